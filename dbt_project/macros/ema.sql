{#-
    Exponential moving average, y_t = alpha * x_t + (1 - alpha) * y_(t-1), of `expression`, as a
    window expression over the named window `window` (partitioned by series, ordered by time).

    A recursive CTE carries y row by row (~0.3 M rows/s). This closed form is computed by an
    ordinary window pass instead. The rows of a series are cut into blocks of
    B = var('ema_block_size') bars by bar index, and `block_row` is a row's position k = 0..B-1
    in its block (the first row of the window partition must start a block). With w = 1 - alpha:

        P_k = alpha * w^k * sum_(j <= k) w^-j * x_j     the EMA of this block, started from 0
        y_k = P_k + w^(k+1) * carry                     carry = y at the previous block's end

    The previous block's end value equals its own P_(B-1)
    = alpha * w^(B-1) * sum over the previous block of w^-j * x_j to float precision, since
    whatever came before that block is damped by w^B < 1e-16 (checked below). Both sums are
    window sums with row-dependent frames (this block so far, the whole previous block), so one
    sort serves every EMA of the series. In the partition's first block there is no previous
    block and the carry is the partition's first value (the EMA is seeded with x_0: y_0 = x_0);
    TA-Lib seeds with an SMA, and the difference decays as w^t.

    The block size bounds the periods: w^-(B-1) must not overflow (w^(B-1) > 1e-250) and w^B
    must vanish. With B = 1024 an EMA's span (alpha = 2 / (n + 1)) can be 4..55 and a Wilder
    period (alpha = 1 / n) 3..28; anything else is a compile error.
-#}
{% macro ema(expression, alpha, window='series', block_row='block_row') -%}
    {%- set block_size = var('ema_block_size') | int -%}
    {%- set alpha = alpha | float -%}
    {%- set decay = 1 - alpha -%}
    {%- if not (0 < alpha < 1) -%}
        {{ exceptions.raise_compiler_error(
            "ema(" ~ expression ~ "): alpha must be in (0, 1), got " ~ alpha) }}
    {%- elif decay ** (block_size - 1) < 1e-250 -%}
        {{ exceptions.raise_compiler_error(
            "ema(" ~ expression ~ "): alpha " ~ alpha ~ " is too large for ema_block_size "
            ~ block_size ~ " (w^-" ~ (block_size - 1) ~ " overflows a double); lower ema_block_size") }}
    {%- elif decay ** block_size > 1e-16 -%}
        {{ exceptions.raise_compiler_error(
            "ema(" ~ expression ~ "): alpha " ~ alpha ~ " is too small for ema_block_size "
            ~ block_size ~ " (w^B = " ~ decay ** block_size ~ " does not vanish, so the carry "
            ~ "across blocks would be wrong); raise ema_block_size") }}
    {%- endif -%}
    {%- set term = 'pow(' ~ decay ~ ', -' ~ block_row ~ ') * (' ~ expression ~ ')' -%}
    (
        {{ alpha }} * pow({{ decay }}, {{ block_row }})
            * sum({{ term }}) over ({{ window }} rows between {{ block_row }} preceding and current row)
        + pow({{ decay }}, {{ block_row }} + 1) * coalesce(
            {{ alpha * decay ** (block_size - 1) }} * sum({{ term }}) over (
                {{ window }} rows between {{ block_row }} + {{ block_size }} preceding
                and {{ block_row }} + 1 preceding
            ),
            first_value({{ expression }}) over ({{ window }} rows between unbounded preceding and current row)
        )
    )
{%- endmacro %}


{#-
    The EMA with factor a of the EMA with factor b of a series x, from two EMAs of x itself:

        EMA_a(EMA_b(x)) = (b * w_a * EMA_a(x) - a * w_b * EMA_b(x)) / (w_a - w_b),  w = 1 - alpha

    (partial fractions of the product of the two filters; both sides satisfy
    v_t = a * EMA_b(x)_t + w_a * v_(t-1), and with EMAs seeded by x_0 both start at x_0). So the
    MACD signal line, EMA_9(EMA_12(close) - EMA_26(close)), comes from EMA_9(close), EMA_12(close)
    and EMA_26(close) in the same window pass, instead of a second pass over the MACD line.
-#}
{% macro ema_of_ema(outer_ema, inner_ema, outer_alpha, inner_alpha) -%}
    {%- set a = outer_alpha | float -%}
    {%- set b = inner_alpha | float -%}
    {%- if a == b -%}
        {{ exceptions.raise_compiler_error("ema_of_ema: the two factors must differ, got " ~ a) }}
    {%- endif -%}
    (({{ b * (1 - a) }} * {{ outer_ema }} - {{ a * (1 - b) }} * {{ inner_ema }}) / {{ b - a }})
{%- endmacro %}
