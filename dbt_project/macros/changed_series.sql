{#-
    Pre-hooks that keep the incremental tables free of stale and orphaned rows. Each finds the
    series to drop with one query (run_query, at run time) and deletes their rows only if there
    are any, so a run in which nothing changed pays for the query alone.
-#}


{#-
    int_candles_indicators: delete every built series whose candles up to its last built bar are
    no longer the ones it was built from, so that the model computes it again in full, like a
    series it has never seen.

    A series changes when ingest replaces it (another simulated world: other seed, signal or
    length), corrects a bar in place, backfills a missing bar or deletes bars. Counting bars misses
    a same-length replacement and an in-place correction, so the comparison is by content: per
    series, the number of bars and the bit_xor of hash(ts, open, high, low, close, volume) over the
    staged candles up to the last built bar, against the same over the built rows (which keep their
    candle). bit_xor is order-free, so both sides are group-bys: two scans of the candle columns,
    ~0.3-0.5 s on 10 M rows. A series gone from staging altogether is deleted too, and a changed
    series leaves no orphan rows (bars that no longer exist) behind.
-#}
{% macro delete_changed_series(candles) -%}
    {%- if execute and is_incremental() -%}
        {%- set changed_series -%}
            with

            built_series as (
                select
                    exchange,
                    symbol,
                    timeframe,
                    max(ts) as last_built_ts,
                    count(*) as bars,
                    bit_xor(hash(ts, open, high, low, close, volume)) as fingerprint,
                from {{ this }}
                group by exchange, symbol, timeframe
            ),

            staged_series as (
                select
                    candles.exchange,
                    candles.symbol,
                    candles.timeframe,
                    count(*) as bars,
                    bit_xor(hash(
                        candles.ts, candles.open, candles.high, candles.low, candles.close, candles.volume
                    )) as fingerprint,
                from {{ candles }} as candles
                inner join built_series
                    on candles.exchange = built_series.exchange
                    and candles.symbol = built_series.symbol
                    and candles.timeframe = built_series.timeframe
                    and candles.ts <= built_series.last_built_ts
                group by candles.exchange, candles.symbol, candles.timeframe
            )

            select
                built_series.exchange,
                built_series.symbol,
                built_series.timeframe,
            from built_series
            left join staged_series
                on built_series.exchange = staged_series.exchange
                and built_series.symbol = staged_series.symbol
                and built_series.timeframe = staged_series.timeframe
            where staged_series.bars is distinct from built_series.bars
                or staged_series.fingerprint is distinct from built_series.fingerprint
        {%- endset -%}
        {{ delete_series(run_query(changed_series)) }}
    {%- endif -%}
{%- endmacro %}


{#-
    fct_features: delete the series that int_candles_indicators rewrote in full since this table's
    last build (a changed series, see delete_changed_series) or no longer has, so that none of
    their old rows survive; the model then inserts the series' current rows. Every series has one
    bar 0; in int_candles_indicators it is older than this table's last build unless the series
    was rewritten in full (or has that single bar, which is rewritten anyway). Only bar 0 rows are
    read, which the tables' zone maps mostly skip to: ~0.02 s on 10 M rows.
-#}
{% macro delete_rebuilt_series(indicators) -%}
    {%- if execute and is_incremental() -%}
        {%- set rebuilt_series -%}
            select exchange, symbol, timeframe from {{ this }} where bar_index = 0
            except
            select exchange, symbol, timeframe from {{ indicators }}
            where bar_index = 0
                and built_at <= (select max(built_at) from {{ this }})
        {%- endset -%}
        {{ delete_series(run_query(rebuilt_series)) }}
    {%- endif -%}
{%- endmacro %}


{#- `delete` of every row of {{ this }} in the series (exchange, symbol, timeframe) of `series`,
    an agate table; nothing when it is empty. -#}
{% macro delete_series(series) -%}
    {%- if series.rows | length > 0 -%}
        {{ log(this.identifier ~ ": deleting " ~ series.rows | length ~ " changed series, to be rebuilt in full", info=true) }}
        delete from {{ this }} as target
        using (
            values
            {%- for row in series.rows %}
                ({% for value in row %}'{{ value | replace("'", "''") }}'{{ ", " if not loop.last }}{% endfor %}){{ "," if not loop.last }}
            {%- endfor %}
        ) as series(exchange, symbol, timeframe)
        where target.exchange = series.exchange
            and target.symbol = series.symbol
            and target.timeframe = series.timeframe
    {%- endif -%}
{%- endmacro %}
