{#-
    A return spans exactly its bars, as the label does at the other end: log_return_k is NULL
    whenever the bar k stored bars earlier is not ts - k timeframes (a gap lies in it), and
    realized_vol_24 is NULL when any of its 24 one-bar returns is (a gap among them). A row
    returned here is a return or a volatility measured across missing bars.
-#}
with

bars as (
    select
        exchange,
        symbol,
        timeframe,
        ts,
        gap_before,
        log_return_1,
        log_return_4,
        log_return_24,
        realized_vol_24,
        to_seconds({{ timeframe_seconds('timeframe') }}) as bar_length,
        lag(ts, 4) over series as ts_lag_4,
        lag(ts, 24) over series as ts_lag_24,
        max(gap_before::int) over (series rows between 23 preceding and current row) as gaps_in_24,
    from {{ ref('fct_features') }}
    window series as (partition by exchange, symbol, timeframe order by ts)
),

failures as (
    select *
    from bars
    where (gap_before and log_return_1 is not null)
        or (log_return_4 is not null and ts_lag_4 is distinct from ts - 4 * bar_length)
        or (log_return_24 is not null and ts_lag_24 is distinct from ts - 24 * bar_length)
        or (realized_vol_24 is not null and gaps_in_24 > 0)
)

select * from failures
