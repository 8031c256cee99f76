-- One row per candle. The source's primary key (exchange, symbol, timeframe, ts) already makes
-- rows unique, so there is nothing to dedupe here (a window pass would cost seconds on 10M
-- rows); fct_features tests the key. ts is stored as a zone-less UTC timestamp.
with

source as (
    select * from {{ source('warehouse', 'market_data') }}
),

renamed as (
    select
        exchange,
        symbol,
        timeframe,
        cast(ts as timestamp) as ts,
        cast(open as double) as open,
        cast(high as double) as high,
        cast(low as double) as low,
        cast(close as double) as close,
        cast(volume as double) as volume,
        source,
        source = 'simulated' as is_simulated,
        cast(fetched_at as timestamp) as fetched_at,
        cast(available_at as timestamp) as available_at,
        batch_id,
    from source
)

select * from renamed
