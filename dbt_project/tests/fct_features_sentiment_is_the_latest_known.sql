{#-
    Each bar's sentiment is the latest stored value for its symbol (and is_simulated) with
    available_at <= the bar's close. Per sentiment value that bars joined (grouped by
    sentiment_available_at): it is still stored with that value, every such bar closed at or
    after it became known and before the next value did; bars without a value all closed before
    the symbol's first one. Fails on sentiment that arrived or changed after the bars were built
    without reaching them. One group-by of fct_features (~0.2 s on 10 M rows) and the small
    sentiment table.
-#}
with

joined as (
    select
        symbol,
        is_simulated,
        sentiment_available_at,
        min(available_at) as first_close,
        max(available_at) as last_close,
        min(sentiment) as min_value,
        max(sentiment) as max_value,
        count(*) as bars,
    from {{ ref('fct_features') }}
    group by symbol, is_simulated, sentiment_available_at
),

known as (
    select
        symbol,
        is_simulated,
        available_at,
        value,
        lead(available_at) over (
            partition by symbol, is_simulated order by available_at
        ) as next_available_at,
        min(available_at) over (partition by symbol, is_simulated) as first_available_at,
    from {{ ref('stg_warehouse__sentiment') }}
),

first_known as (
    select distinct
        symbol,
        is_simulated,
        first_available_at,
    from known
),

failures as (
    select
        joined.*,
        known.value as stored_value,
        known.next_available_at,
        first_known.first_available_at,
    from joined
    left join known
        on joined.symbol = known.symbol
        and joined.is_simulated = known.is_simulated
        and joined.sentiment_available_at = known.available_at
    left join first_known
        on joined.symbol = first_known.symbol
        and joined.is_simulated = first_known.is_simulated
    where case
        when joined.sentiment_available_at is null
            -- no value joined, although one was known by the last of these bars' closes
            then joined.last_close >= first_known.first_available_at
        else
            known.available_at is null  -- the value is no longer stored
            or joined.min_value <> known.value
            or joined.max_value <> known.value
            or joined.first_close < joined.sentiment_available_at  -- joined before it was known
            or joined.last_close >= known.next_available_at  -- a newer value was known
    end
)

select * from failures
