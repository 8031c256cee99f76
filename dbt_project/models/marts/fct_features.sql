{{
    config(
        materialized='incremental',
        unique_key=['exchange', 'symbol', 'timeframe', 'ts'],
        incremental_strategy='delete+insert',
        on_schema_change='fail',
    )
}}

{#-
    One row per bar and series: the candle, its point-in-time features and its labels.
    Features at bar t use bars <= t and sentiment known by the bar's close (ts + timeframe);
    fwd_return_1 / fwd_direction_1 are the only forward-looking columns.

    Incremental runs take the rows int_candles_indicators wrote since this table's last build
    (built_at is the start of the run that wrote a row, in both models), which include the
    previously last bar of each series with its label now known.
-#}

with

indicators as (
    select * exclude (built_at) from {{ ref('int_candles_indicators') }}
    {% if is_incremental() %}
    where built_at > (
        select coalesce(max(built_at), timestamp '1970-01-01') from {{ this }}
    )
    {% endif %}
),

sentiment as (
    select
        symbol,
        is_simulated,
        ts,
        value,
        available_at,
    from {{ ref('stg_warehouse__sentiment') }}
),

with_sentiment as (
    -- the latest value known by the bar's close: sentiment.available_at <= bar close; simulated
    -- sentiment only ever meets simulated candles, real only real
    select
        indicators.*,
        sentiment.value as sentiment,
        date_diff('second', sentiment.ts, indicators.available_at) / 3600 as sentiment_age_hours,
    from indicators
    asof left join sentiment
        on indicators.symbol = sentiment.symbol
        and indicators.is_simulated = sentiment.is_simulated
        and indicators.available_at >= sentiment.available_at
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
        available_at,
        is_simulated,
        bar_index,
        log_return_1,
        log_return_4,
        log_return_24,
        realized_vol_24,
        rsi_14,
        macd,
        macd_signal,
        macd_hist,
        bb_upper,
        bb_middle,
        bb_lower,
        volume_zscore_24,
        hour(ts) as hour_of_day,
        isodow(ts) as day_of_week,
        sentiment,
        sentiment_age_hours,
        fwd_return_1,
        case
            when fwd_return_1 > 0 then 1
            when fwd_return_1 <= 0 then 0
        end as fwd_direction_1,
        {{ build_timestamp() }} as built_at,
    from with_sentiment
)

select * from final
