{{
    config(
        materialized='incremental',
        unique_key=['exchange', 'symbol', 'timeframe', 'ts'],
        incremental_strategy='delete+insert',
        on_schema_change='fail',
    )
}}

{%- set block_size = var('ema_block_size') | int -%}
{%- set lookback = var('features_lookback_bars') | int -%}
{%- set warmup = var('indicator_warmup_bars') | int -%}
{%- if lookback < block_size -%}
    {{ exceptions.raise_compiler_error(
        "features_lookback_bars (" ~ lookback ~ ") must be at least ema_block_size ("
        ~ block_size ~ "): rewritten bars must lie past the first EMA block of the look-back") }}
{%- endif -%}

{#-
    Per-candle returns, rolling statistics, EMA-based indicators (RSI, MACD) and Bollinger bands,
    plus the next bar's return (the label), computed in two window passes over each series
    (exchange, symbol, timeframe) ordered by ts: see README.md for the EMA method.

    Incremental runs recompute, per series, a look-back window that starts on an EMA block
    boundary at least `features_lookback_bars` before the last built bar, and write back only the
    last built bar (its label is now known) and the bars after it. Inside that window each EMA
    block after the first gets the carry a full rebuild gives it (a sum over the previous block's
    own bars), so the rewritten values equal a full rebuild's; bar_index stays the position in
    the whole series. A series not built yet, or whose bars up to its last built one changed in
    number (a backfill), is computed in full.
-#}

with

candles as not materialized (
    -- read twice in incremental runs; inlined, each read scans only the columns it needs
    select
        exchange,
        symbol,
        timeframe,
        ts,
        open,
        high,
        low,
        close,
        volume,
        is_simulated,
    from {{ ref('stg_warehouse__market_data') }}
),

{% if is_incremental() %}

built_series as (
    select
        exchange,
        symbol,
        timeframe,
        max(ts) as last_built_ts,
        max(bar_index) as last_built_index,
    from {{ this }}
    group by exchange, symbol, timeframe
),

unchanged_series as (
    -- the bars up to the last built one are still exactly the bars that were built
    select built_series.*
    from built_series
    inner join candles
        on candles.exchange = built_series.exchange
        and candles.symbol = built_series.symbol
        and candles.timeframe = built_series.timeframe
        and candles.ts <= built_series.last_built_ts
    group by all
    having count(*) = built_series.last_built_index + 1
),

lookback_windows as (
    select
        unchanged_series.exchange,
        unchanged_series.symbol,
        unchanged_series.timeframe,
        unchanged_series.last_built_ts as rewrite_from_ts,
        window_start.ts as window_start_ts,
        window_start.bar_index as window_start_index,
    from unchanged_series
    inner join {{ this }} as window_start
        on window_start.exchange = unchanged_series.exchange
        and window_start.symbol = unchanged_series.symbol
        and window_start.timeframe = unchanged_series.timeframe
        and window_start.bar_index = greatest(
            unchanged_series.last_built_index - {{ lookback }}, 0
        ) // {{ block_size }} * {{ block_size }}
),

windowed_candles as (
    select
        candles.*,
        coalesce(lookback_windows.window_start_index, 0) as window_start_index,
        lookback_windows.rewrite_from_ts,
    from candles
    left join lookback_windows
        on candles.exchange = lookback_windows.exchange
        and candles.symbol = lookback_windows.symbol
        and candles.timeframe = lookback_windows.timeframe
    where lookback_windows.window_start_ts is null
        or candles.ts >= lookback_windows.window_start_ts
),

{% else %}

windowed_candles as (
    select
        *,
        0 as window_start_index,
        cast(null as timestamp) as rewrite_from_ts,
    from candles
),

{% endif %}

neighbours as (
    -- pass 1: position, neighbouring closes and fixed-width rolling statistics
    select
        *,
        window_start_index + row_number() over series - 1 as bar_index,
        lag(close) over series as close_lag_1,
        lag(close, 4) over series as close_lag_4,
        lag(close, 24) over series as close_lag_24,
        lead(close) over series as close_lead_1,
        avg(close) over (series rows between 19 preceding and current row) as close_mean_20,
        stddev_pop(close) over (series rows between 19 preceding and current row) as close_stddev_20,
        avg(volume) over (series rows between 23 preceding and current row) as volume_mean_24,
        stddev_pop(volume) over (series rows between 23 preceding and current row) as volume_stddev_24,
    from windowed_candles
    window series as (partition by exchange, symbol, timeframe order by ts)
),

changes as (
    select
        *,
        ln(close / close_lag_1) as log_return_1,
        -- 0 on the partition's first bar, where the gain and loss EMAs start
        coalesce(close - close_lag_1, 0) as close_change,
        bar_index % {{ block_size }} as block_row,
    from neighbours
),

smoothed as (
    -- pass 2: every EMA of the series in one sort (see macros/ema.sql)
    select
        *,
        stddev_samp(log_return_1) over (series rows between 23 preceding and current row) as log_return_stddev_24,
        {{ ema('close', 2 / (9 + 1)) }} as close_ema_9,
        {{ ema('close', 2 / (12 + 1)) }} as close_ema_12,
        {{ ema('close', 2 / (26 + 1)) }} as close_ema_26,
        {{ ema('greatest(close_change, 0)', 1 / 14) }} as gain_wilder_14,
        {{ ema('greatest(-close_change, 0)', 1 / 14) }} as loss_wilder_14,
    from changes
    window series as (partition by exchange, symbol, timeframe order by ts)
),

indicators as (
    select
        *,
        close_ema_12 - close_ema_26 as macd_line,
        -- EMA_9 of the MACD line = EMA_9(EMA_12) - EMA_9(EMA_26), by linearity
        {{ ema_of_ema('close_ema_9', 'close_ema_12', 2 / (9 + 1), 2 / (12 + 1)) }}
        - {{ ema_of_ema('close_ema_9', 'close_ema_26', 2 / (9 + 1), 2 / (26 + 1)) }} as macd_signal_line,
    from smoothed
),

final as (
    select
        exchange,
        symbol,
        timeframe,
        ts,
        open,
        high,
        low,
        close,
        volume,
        is_simulated,
        ts + to_seconds({{ timeframe_seconds('timeframe') }}) as available_at,
        bar_index,
        log_return_1,
        ln(close / close_lag_4) as log_return_4,
        ln(close / close_lag_24) as log_return_24,
        case when bar_index >= 24 then log_return_stddev_24 end as realized_vol_24,
        case when bar_index >= {{ warmup }} then
            -- TA-Lib's RSI formula; no movement at all (0 / 0) gives 0, as in TA-Lib
            case
                when gain_wilder_14 + loss_wilder_14 > 0
                    then 100 * gain_wilder_14 / (gain_wilder_14 + loss_wilder_14)
                else 0
            end
        end as rsi_14,
        case when bar_index >= {{ warmup }} then macd_line end as macd,
        case when bar_index >= {{ warmup }} then macd_signal_line end as macd_signal,
        case when bar_index >= {{ warmup }} then macd_line - macd_signal_line end as macd_hist,
        case when bar_index >= {{ warmup }} then close_mean_20 + 2 * close_stddev_20 end as bb_upper,
        case when bar_index >= {{ warmup }} then close_mean_20 end as bb_middle,
        case when bar_index >= {{ warmup }} then close_mean_20 - 2 * close_stddev_20 end as bb_lower,
        case
            when bar_index >= 23 and volume_stddev_24 > 0
                then (volume - volume_mean_24) / volume_stddev_24
        end as volume_zscore_24,
        ln(close_lead_1 / close) as fwd_return_1,
        {{ build_timestamp() }} as built_at,
    from indicators
    {% if is_incremental() %}
    where rewrite_from_ts is null or ts >= rewrite_from_ts
    {% endif %}
)

select * from final
