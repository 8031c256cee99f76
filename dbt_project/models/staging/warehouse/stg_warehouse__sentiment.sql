-- One sentiment value per (symbol, is_simulated, available_at): when several sources publish for
-- a symbol at the same moment, the most recent observation wins (then the source name, so the
-- choice is deterministic and an as-of join by available_at has a single candidate). Simulated
-- and real sentiment are kept apart so that neither is ever joined to the other's candles.
with

source as (
    select * from {{ source('warehouse', 'sentiment') }}
),

renamed as (
    select
        source,
        source = 'simulated' as is_simulated,
        symbol,
        cast(ts as timestamp) as ts,
        cast(value as double) as value,
        cast(fetched_at as timestamp) as fetched_at,
        cast(available_at as timestamp) as available_at,
        batch_id,
    from source
),

deduplicated as (
    select *
    from renamed
    qualify row_number() over (
        partition by symbol, is_simulated, available_at
        order by ts desc, source
    ) = 1
)

select * from deduplicated
