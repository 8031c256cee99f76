{#-
    Exponential moving average, y_t = alpha * x_t + (1 - alpha) * y_(t-1), of `expression`, as a
    window expression over the named window `window` (partitioned by series, ordered by time).

    A recursive CTE carries y row by row (~0.3 M rows/s). This closed form is computed by an
    ordinary window pass instead. The rows of a series are cut into blocks of
    B = var('ema_block_size') bars by bar index, and `block_row` is a row's position k = 0..B-1
    in its block (the first row of the window partition must start a block). With w = 1 - alpha
    and S_k = sum_(j <= k) w^-j * x_j over the block's rows so far:

        y_k = alpha * w^k * S_k + w^(k+1) * carry       carry = y at the previous block's end

    The previous block's end value equals its own alpha * w^(B-1) * S_(B-1) to float precision,
    since whatever came before that block is damped by w^B < 1e-16 (checked below). Both sums
    are window sums with row-dependent frames (this block so far, the whole previous block), so
    one sort serves every EMA of the series.

    The partition's first block has no previous block; its carry sets the seed:
    - by default the partition's first value (y_0 = x_0);
    - with `seed_index` s and `seed_bars` n, TA-Lib's seed: y_s = the mean of the expression
      over the n bars ending at bar s, and y_k = alpha * w^k * (S_k - S_s) + w^(k-s) * y_s for
      k >= s. That is the carry (y_s - alpha * w^s * S_s) / w^(s+1), computed from the
      partition's bars with `bar_index` <= s (whole-partition aggregates: no extra sort). It
      applies when the partition starts at bar_index 0 (a full build, a new series); a partition
      that starts later (an incremental look-back) has no such bars and falls back to its first
      value, which is fine as long as only rows past its first block are kept. Values before
      bar s are meaningless; callers keep them NULL.

    The block size bounds the periods: w^-(B-1) must not overflow (w^(B-1) > 1e-250) and w^B
    must vanish (and so must w^(B-1-s) for a seed at bar s: the carry into the second block
    assumes the first block's start is forgotten by its end). With B = 1024 an EMA's span (alpha = 2 / (n + 1)) can be 4..55 and a Wilder
    period (alpha = 1 / n) 3..28; anything else is a compile error.
-#}
{% macro ema(
    expression,
    alpha,
    window='series',
    block_row='block_row',
    seed_index=none,
    seed_bars=none,
    bar_index='bar_index'
) -%}
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
    {%- elif (seed_index is none) != (seed_bars is none) -%}
        {{ exceptions.raise_compiler_error(
            "ema(" ~ expression ~ "): give both seed_index and seed_bars, or neither") }}
    {%- elif seed_index is not none and not (
        1 <= seed_bars | int <= seed_index | int + 1 and seed_index | int < block_size
    ) -%}
        {{ exceptions.raise_compiler_error(
            "ema(" ~ expression ~ "): the seed needs 1 <= seed_bars (" ~ seed_bars ~ ") <= "
            ~ "seed_index + 1 and seed_index (" ~ seed_index ~ ") < ema_block_size") }}
    {%- elif seed_index is not none and decay ** (block_size - 1 - seed_index | int) > 1e-16 -%}
        {{ exceptions.raise_compiler_error(
            "ema(" ~ expression ~ "): the seed at bar " ~ seed_index ~ " is too close to the end "
            ~ "of the first block (w^" ~ (block_size - 1 - seed_index | int) ~ " does not vanish, "
            ~ "so the carry into the second block would be wrong); seed earlier or raise "
            ~ "ema_block_size") }}
    {%- endif -%}
    {%- set term = 'pow(' ~ decay ~ ', -' ~ block_row ~ ') * (' ~ expression ~ ')' -%}
    {%- set first_value = 'first_value(' ~ expression ~ ') over (' ~ window
        ~ ' rows between unbounded preceding and current row)' -%}
    {%- if seed_index is none -%}
        {%- set first_carry = first_value -%}
    {%- else -%}
        {%- set s = seed_index | int -%}
        {%- set whole = window ~ ' rows between unbounded preceding and unbounded following' -%}
        {%- set first_carry -%}
            coalesce(
                (
                    avg({{ expression }}) filter (
                        where {{ bar_index }} between {{ s - (seed_bars | int) + 1 }} and {{ s }}
                    ) over ({{ whole }})
                    - {{ alpha * decay ** s }}
                        * sum({{ term }}) filter (where {{ bar_index }} <= {{ s }}) over ({{ whole }})
                ) / {{ decay ** (s + 1) }},
                {{ first_value }}
            )
        {%- endset -%}
    {%- endif -%}
    (
        {{ alpha }} * pow({{ decay }}, {{ block_row }})
            * sum({{ term }}) over ({{ window }} rows between {{ block_row }} preceding and current row)
        + pow({{ decay }}, {{ block_row }} + 1) * coalesce(
            {{ alpha * decay ** (block_size - 1) }} * sum({{ term }}) over (
                {{ window }} rows between {{ block_row }} + {{ block_size }} preceding
                and {{ block_row }} + 1 preceding
            ),
            {{ first_carry }}
        )
    )
{%- endmacro %}


{#-
    The EMA with factor a of the EMA with factor b of a series x, from two EMAs of x itself:

        EMA_a(EMA_b(x)) = (b * w_a * EMA_a(x) - a * w_b * EMA_b(x)) / (w_a - w_b),  w = 1 - alpha

    (partial fractions of the product of the two filters): whatever the two EMAs' seeds, the
    right-hand side v satisfies v_t = a * EMA_b(x)_t + w_a * v_(t-1) from the bar after EMA_b's
    seed on, so it is an EMA_a of EMA_b(x) whose own seed follows from theirs. With both EMAs
    seeded by x_0 it starts at x_0; seeded otherwise, it differs from an EMA_a of EMA_b(x) seeded
    some other way by a term that decays as w_a^t. So the MACD signal line,
    EMA_9(EMA_12(close) - EMA_26(close)), comes from EMA_9(close), EMA_12(close) and
    EMA_26(close) in the same window pass, instead of a second pass over the MACD line.
-#}
{% macro ema_of_ema(outer_ema, inner_ema, outer_alpha, inner_alpha) -%}
    {%- set a = outer_alpha | float -%}
    {%- set b = inner_alpha | float -%}
    {%- if a == b -%}
        {{ exceptions.raise_compiler_error("ema_of_ema: the two factors must differ, got " ~ a) }}
    {%- endif -%}
    (({{ b * (1 - a) }} * {{ outer_ema }} - {{ a * (1 - b) }} * {{ inner_ema }}) / {{ b - a }})
{%- endmacro %}
