-- 008: revisions of stored bars. When a batch changes a bar already in market_data (open, high,
-- low, close or volume differ), the bar's previous values are kept here with the new ones, so
-- nothing stored is ever lost. Each change was judged against the series' recent volatility:
-- `sigmas` is the largest price change (open, high, low or close, as |ln(new / old)|) in
-- standard deviations of the stored one-bar log returns before it; `plausible` says it was within
-- ingest.revision_max_sigma. An implausible change is stored only with --allow-revisions;
-- otherwise its whole batch is refused and nothing is written but the batch's record.
create table market_data_revisions (
    exchange varchar not null,
    symbol varchar not null,
    timeframe varchar not null,
    ts timestamp not null,
    old_open double not null,
    old_high double not null,
    old_low double not null,
    old_close double not null,
    old_volume double not null,
    old_source varchar not null,
    old_batch_id varchar not null,          -- the batch that had stored the old values
    old_fetched_at timestamp not null,
    old_available_at timestamp not null,
    new_open double not null,
    new_high double not null,
    new_low double not null,
    new_close double not null,
    new_volume double not null,
    batch_id varchar not null,              -- the revising batch (ingest_batches.id)
    source varchar not null,                -- the revising batch's source: file, ccxt, ...
    origin varchar,                         -- where it came from: the file's path, the exchange
    sigma double not null,                  -- SD of the series' recent one-bar log returns used
    sigmas double not null,                 -- the largest price change in units of sigma
    plausible boolean not null,             -- sigmas <= ingest.revision_max_sigma
    revised_at timestamp not null,
    primary key (exchange, symbol, timeframe, ts, batch_id)
);
