{{
    config(
        materialized='incremental',
        unique_key=['exchange', 'symbol', 'timeframe', 'ts'],
        incremental_strategy='delete+insert',
        on_schema_change='fail',
        pre_hook="{{ delete_rebuilt_series(ref('int_candles_indicators')) }}",
    )
}}

{#-
    One row per bar and series: the candle, its point-in-time features and its labels.
    Features at bar t use bars <= t and sentiment known by the bar's close (ts + timeframe);
    fwd_return_1 / fwd_direction_1 are the only forward-looking columns.

    Incremental runs (re)write:
    - the rows int_candles_indicators wrote since this table's last build (built_at, the start
      of the dbt run that wrote a row, is the watermark): new bars, each series' previously last
      bar (its label is now known) and every row of a series it recomputed in full (whose old
      rows the pre-hook delete_rebuilt_series removed first);
    - the bars whose as-of sentiment may have changed since that build: per (symbol,
      is_simulated), every bar closing at or after the earliest ts or available_at of the
      sentiment rows that arrived since (see late_sentiment).
#}

-- depends_on: {{ ref('stg_warehouse__ingest_batches') }} (read in incremental runs only)

with

{% if is_incremental() %}

last_build as (
    select coalesce(max(built_at), timestamp '1970-01-01') as built_at from {{ this }}
),

late_sentiment as (
    -- Sentiment rows stored after the last build: fetched since it started, or written by an
    -- ingest batch that finished after it started (an ingest that waited for the warehouse's
    -- write lock while that build ran stamps fetched_at before the build began but commits
    -- after it; its batch's finished_at is taken inside the write transaction). Inserted and
    -- updated rows carry the new fetched_at and batch_id; a replaced symbol's rows are all new.
    -- An update moves a value's available_at to its fetch, so the bars from its ts on (which may
    -- have seen the old value) are redone too: hence least(ts, available_at).
    select
        sentiment.symbol,
        sentiment.is_simulated,
        min(least(sentiment.ts, sentiment.available_at)) as changed_from,
    from {{ ref('stg_warehouse__sentiment') }} as sentiment
    cross join last_build
    where sentiment.fetched_at > last_build.built_at
        or sentiment.batch_id in (
            select batches.batch_id
            from {{ ref('stg_warehouse__ingest_batches') }} as batches
            cross join last_build
            where batches.table_name = 'sentiment'
                and batches.finished_at > last_build.built_at
        )
    group by sentiment.symbol, sentiment.is_simulated
),

{% endif %}

indicators as (
    select * exclude (built_at) from {{ ref('int_candles_indicators') }}
    {% if is_incremental() %}
    where built_at > (select built_at from last_build)

    union all

    select rows.* exclude (built_at)
    from {{ ref('int_candles_indicators') }} as rows
    semi join late_sentiment
        on rows.symbol = late_sentiment.symbol
        and rows.is_simulated = late_sentiment.is_simulated
        and rows.available_at >= late_sentiment.changed_from
    where rows.built_at <= (select built_at from last_build)
    {% endif %}
),

sentiment as (
    select
        symbol,
        is_simulated,
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
        sentiment.available_at as sentiment_available_at,
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
        gap_before,
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
        sentiment_available_at,
        -- how old the value was at the bar's close, counted from when it became known
        (epoch_us(available_at) - epoch_us(sentiment_available_at)) / 3.6e9 as sentiment_age_hours,
        fwd_return_1,
        case
            when fwd_return_1 > 0 then 1
            when fwd_return_1 <= 0 then 0
        end as fwd_direction_1,
        {{ build_timestamp() }} as built_at,
    from with_sentiment
)

select * from final
