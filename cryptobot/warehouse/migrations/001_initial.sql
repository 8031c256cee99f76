-- 001: the warehouse's first schema.
-- Conventions: ts is always the bar's open time in UTC (TIMESTAMP, no zone); every stored record
-- carries fetched_at (when we got it) and available_at (when the system could first have known it).
-- Prices and amounts are DOUBLE: see README "Warehouse" for why not DECIMAL.

create table exchanges (
    name varchar primary key,
    api_key_encrypted varchar,
    secret_key_encrypted varchar,
    is_active boolean not null default true,
    created_at timestamp not null default (now()::timestamp),
    updated_at timestamp not null default (now()::timestamp)
);

create table market_data (
    exchange varchar not null,
    symbol varchar not null,
    timeframe varchar not null,
    ts timestamp not null,
    open double not null,
    high double not null,
    low double not null,
    close double not null,
    volume double not null,
    source varchar not null,
    fetched_at timestamp not null,
    available_at timestamp not null,
    batch_id varchar not null,
    primary key (exchange, symbol, timeframe, ts)
);

create table sentiment (
    source varchar not null,
    symbol varchar not null,
    ts timestamp not null,
    value double not null,
    fetched_at timestamp not null,
    available_at timestamp not null,
    batch_id varchar not null,
    primary key (source, symbol, ts)
);

create table ingest_batches (
    id varchar primary key,
    source varchar not null,
    table_name varchar not null,
    exchange varchar,
    symbol varchar,
    timeframe varchar,
    rows bigint not null default 0,
    rows_inserted bigint not null default 0,
    rows_updated bigint not null default 0,
    rows_quarantined bigint not null default 0,
    status varchar not null,
    error varchar,
    params json,
    started_at timestamp not null,
    finished_at timestamp
);

create table quarantine (
    batch_id varchar not null,
    table_name varchar not null,
    row_number bigint not null,
    exchange varchar,
    symbol varchar,
    timeframe varchar,
    ts timestamp,
    reason varchar not null,
    record json,
    quarantined_at timestamp not null
);

create table validation_runs (
    id varchar primary key,
    table_name varchar not null,
    exchange varchar,
    symbol varchar,
    timeframe varchar,
    rows bigint not null,
    success boolean not null,
    failures json,
    gaps bigint,
    run_at timestamp not null
);

create table trades (
    id varchar primary key,
    client_order_id varchar not null,
    exchange varchar not null,
    symbol varchar not null,
    side varchar not null,
    amount double not null,
    price double not null,
    fee double not null,
    fee_currency varchar,
    mode varchar not null,
    strategy varchar,
    ts timestamp not null,
    created_at timestamp not null default (now()::timestamp)
);

create table ml_predictions (
    model_name varchar not null,
    model_version varchar not null,
    symbol varchar not null,
    timeframe varchar not null,
    ts timestamp not null,
    predicted double not null,
    confidence double,
    actual double,
    correct boolean,
    created_at timestamp not null default (now()::timestamp),
    primary key (model_name, model_version, symbol, timeframe, ts)
);
