{{
    config(
        materialized='incremental',
        unique_key=['exchange', 'symbol', 'timeframe', 'ts'],
        incremental_strategy='delete+insert',
        on_schema_change='fail',
        pre_hook="{{ delete_changed_series(ref('stg_warehouse__market_data')) }}",
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
    (exchange, symbol, timeframe) ordered by ts: see README.md for the EMA method. Windows count
    stored bars, not time: a gap in a series is flagged (gap_before); the label, the returns and
    realized_vol_24 are NULL across it (a return must span exactly its bars), but the indicators
    (RSI, MACD, Bollinger, z-score) run on over it.

    Incremental runs first delete every series whose candles up to its last built bar changed
    (the pre-hook delete_changed_series: replaced, corrected, backfilled), so it is computed here
    in full like a new series. Every other series is recomputed from a look-back window that
    starts on an EMA block boundary at least `features_lookback_bars` before its last built bar,
    and only the last built bar (its label is now known) and the bars after it are written back.
    Inside that window each EMA block after the first gets the carry a full rebuild gives it (a
    sum over the previous block's own bars), so the rewritten values equal a full rebuild's;
    bar_index stays the position in the whole series.
-#}

with

candles as (
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

lookback_windows as (
    -- series the pre-hook kept: their bars up to the last built one are the ones built
    select
        built_series.exchange,
        built_series.symbol,
        built_series.timeframe,
        built_series.last_built_ts as rewrite_from_ts,
        window_start.ts as window_start_ts,
        window_start.bar_index as window_start_index,
    from built_series
    inner join {{ this }} as window_start
        on window_start.exchange = built_series.exchange
        and window_start.symbol = built_series.symbol
        and window_start.timeframe = built_series.timeframe
        and window_start.bar_index = greatest(
            built_series.last_built_index - {{ lookback }}, 0
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
    -- pass 1: position, neighbouring bars and fixed-width rolling statistics
    select
        *,
        window_start_index + row_number() over series - 1 as bar_index,
        lag(ts) over series as ts_lag_1,
        lag(ts, 4) over series as ts_lag_4,
        lag(ts, 24) over series as ts_lag_24,
        lead(ts) over series as ts_lead_1,
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

bar_lengths as (
    select
        *,
        to_seconds({{ timeframe_seconds('timeframe') }}) as bar_length,
    from neighbours
),

changes as (
    -- what pass 1 gives for each bar, so that pass 2 sorts as few columns as it can
    select
        * exclude (bar_length, ts_lag_1, ts_lag_4, ts_lag_24, ts_lead_1, close_lead_1),
        ts + bar_length as available_at,
        -- the previous stored bar is not the previous bar in time (never on a series' first bar)
        coalesce(ts_lag_1 <> ts - bar_length, false) as gap_before,
        -- the label spans exactly one bar: NULL unless the next stored bar is the next bar
        case when ts_lead_1 = ts + bar_length then ln(close_lead_1 / close) end as fwd_return_1,
        -- a return spans exactly its bars, as the label does: NULL when a gap lies inside it
        case when ts_lag_1 = ts - bar_length then ln(close / close_lag_1) end as log_return_1,
        case when ts_lag_4 = ts - 4 * bar_length then ln(close / close_lag_4) end as log_return_4,
        case when ts_lag_24 = ts - 24 * bar_length then ln(close / close_lag_24) end as log_return_24,
        -- 0 on the partition's first bar, where the gain and loss EMAs start
        coalesce(close - close_lag_1, 0) as close_change,
        bar_index % {{ block_size }} as block_row,
    from bar_lengths
),

smoothed as (
    -- pass 2: every EMA of the series in one sort (see macros/ema.sql)
    select
        *,
        stddev_samp(log_return_1) over (series rows between 23 preceding and current row) as log_return_stddev_24,
        -- one-bar returns in that window: 24 unless a gap (a NULL return) lies in it
        count(log_return_1) over (series rows between 23 preceding and current row) as log_return_count_24,
        -- TA-Lib's seeds: MACD starts both EMAs at bar 25 (slow_period - 1), the slow one from
        -- the mean of closes 0..25, the fast one from the mean of closes 14..25; RSI starts
        -- Wilder's averages at bar 14 from the mean of the first 14 changes (bars 1..14)
        {{ ema('close', 2 / (12 + 1), seed_index=25, seed_bars=12) }} as close_ema_12,
        {{ ema('close', 2 / (26 + 1), seed_index=25, seed_bars=26) }} as close_ema_26,
        {{ ema('greatest(close_change, 0)', 1 / 14, seed_index=14, seed_bars=14) }} as gain_wilder_14,
        {{ ema('greatest(-close_change, 0)', 1 / 14, seed_index=14, seed_bars=14) }} as loss_wilder_14,
        -- only for the signal line (ema_of_ema), where its seed decays as 0.8^t
        {{ ema('close', 2 / (9 + 1)) }} as close_ema_9,
    from changes
    window series as (partition by exchange, symbol, timeframe order by ts)
),

indicators as (
    select
        *,
        close_ema_12 - close_ema_26 as macd_line,
        -- EMA_9 of the MACD line = EMA_9(EMA_12) - EMA_9(EMA_26), by linearity. TA-Lib seeds it
        -- at bar 33 with the mean of MACD 25..33; this one carries another seed, whose
        -- difference decays as 0.8^(t - 33): below 1e-25 of the MACD's scale by bar 300
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
        available_at,
        bar_index,
        gap_before,
        log_return_1,
        log_return_4,
        log_return_24,
        case when log_return_count_24 = 24 then log_return_stddev_24 end as realized_vol_24,
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
        fwd_return_1,
        {{ build_timestamp() }} as built_at,
    from indicators
    {% if is_incremental() %}
    where rewrite_from_ts is null or ts >= rewrite_from_ts
    {% endif %}
)

select * from final
