-- 004: backtests. A backtest replays a strategy over stored history through the same execution
-- core as the trading flow (strategy, sizing, risk checks, paper fill model). Times are naive
-- UTC; `ts` of an equity row is the decision time (a bar close), `ts` of a fill is the open time
-- of the bar it filled at. Amounts are base currency, money is quote currency.

-- One row per run. `run_id` is a hash of everything the result depends on (symbols, window,
-- strategy, models and their versions, the prediction rows, costs, limits, capital, code), so
-- re-running the same backtest stores nothing new. Comparison legs (buy-and-hold, each baseline)
-- are runs of their own whose `parent_id` is the main run.
create table backtest_runs (
    run_id varchar primary key,
    parent_id varchar,                     -- the main run, for a comparison leg
    role varchar not null,                 -- strategy | buy_and_hold | baseline
    label varchar not null,                -- what the run is shown as, e.g. long_flat, persistence
    exchange varchar not null,
    timeframe varchar not null,
    symbols varchar not null,              -- comma-separated, in the order traded
    start_ts timestamp not null,           -- first decision time (bar close)
    end_ts timestamp not null,             -- last decision time (bar close)
    bars integer not null,                 -- decision times in the window
    strategy varchar not null,
    models varchar,                        -- JSON: symbol -> model name and version used
    prediction_source varchar,             -- JSON: symbol -> where each bar's prediction came from
    in_sample boolean not null,            -- some predictions came from a model that saw the bar
    is_simulated boolean not null,
    capital double not null,
    fee double not null,
    spread double not null,
    slippage double not null,
    impact double not null,
    settings varchar not null,             -- JSON: risk limits and trading settings used
    data_fingerprint varchar not null,     -- sha256 of the market rows and predictions used
    code_version varchar,
    metrics varchar not null,              -- JSON: the run's after-cost metrics
    mlflow_run_id varchar,
    seconds double,                        -- engine time
    created_at timestamp not null
);

create table backtest_orders (
    run_id varchar not null,
    order_no integer not null,             -- in the order they were decided
    symbol varchar not null,
    bar_ts timestamp not null,             -- the decision's bar (open time)
    decided_at timestamp not null,         -- the decision time (that bar's close)
    side varchar not null,                 -- buy | sell
    amount double not null,                -- base, on the market's amount step
    status varchar not null,               -- filled | submitted (still open at the end)
    primary key (run_id, order_no)
);

create table backtest_fills (
    run_id varchar not null,
    order_no integer not null,
    symbol varchar not null,
    ts timestamp not null,                 -- open time of the bar it filled at
    side varchar not null,
    amount double not null,
    price double not null,                 -- after spread, slippage and impact
    fee double not null,                   -- quote
    reference_price double not null,       -- the bar's open
    spread_cost double not null,           -- quote
    slippage_cost double not null,         -- quote, slippage and impact
    primary key (run_id, order_no)
);

create table backtest_equity (
    run_id varchar not null,
    ts timestamp not null,                 -- decision time (a bar close)
    cash double not null,
    positions_value double not null,
    equity double not null,
    gross_exposure double not null,
    peak_equity double not null,
    drawdown double not null,
    daily_pnl double not null,
    primary key (run_id, ts)
);
