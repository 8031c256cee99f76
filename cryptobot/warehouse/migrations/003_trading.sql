-- 003: the trading flow's records. `mode` is the account: 'paper' or 'live'. Times are naive UTC.
-- `bar_ts` is the open time of the closed bar a decision was made on; `decided_at` (= the bar's
-- close, the flow's as-of time) is when the decision was made. Amounts are base currency, money
-- is quote currency (USDT for the default symbols).

-- One row per fill. The roadmap's table; 001 created its core columns.
alter table trades add column timeframe varchar;
alter table trades add column bar_ts timestamp;          -- the decision's bar
alter table trades add column reference_price double;    -- mid price before spread and slippage
alter table trades add column spread_cost double;        -- quote paid to the spread
alter table trades add column slippage_cost double;      -- quote paid to slippage and impact
alter table trades add column is_simulated boolean;

-- Every order, one row, its state kept current. Allowed states and transitions:
-- cryptobot.trading.orders.ORDER_TRANSITIONS.
create table orders (
    client_order_id varchar primary key,   -- derived from (strategy, exchange, symbol, timeframe, bar)
    mode varchar not null,
    strategy varchar not null,
    exchange varchar not null,
    symbol varchar not null,
    timeframe varchar not null,
    bar_ts timestamp not null,
    side varchar not null,                 -- buy | sell
    order_type varchar not null,           -- market
    amount double not null,                -- base, rounded to the market's precision
    status varchar not null,               -- new | submitted | partially_filled | filled | cancelled | rejected
    filled double not null default 0,
    average_price double,
    fee double not null default 0,
    exchange_order_id varchar,
    decision_id varchar not null,
    reason varchar,                        -- why rejected or cancelled
    is_simulated boolean not null,
    created_at timestamp not null,         -- the decision time
    updated_at timestamp not null
);

-- The current position per account and market; rebuilt from `trades` by the same arithmetic.
create table positions (
    mode varchar not null,
    exchange varchar not null,
    symbol varchar not null,
    amount double not null,                -- signed base amount (negative: short)
    avg_price double,                      -- average entry price of the open amount
    realized_pnl double not null,          -- quote, closed P&L before fees
    fees double not null,                  -- quote, all fees paid on this market
    last_price double,                     -- the mark used in the latest equity row
    opened_at timestamp,                   -- when the open amount was first entered
    updated_at timestamp not null,
    is_simulated boolean not null,
    primary key (mode, exchange, symbol)
);

-- The account marked to market at each decision time.
create table equity_curve (
    mode varchar not null,
    ts timestamp not null,                 -- the decision time (a bar close)
    cash double not null,
    positions_value double not null,       -- signed sum of amount * mark
    equity double not null,                -- cash + positions_value
    gross_exposure double not null,        -- sum of |amount * mark|
    peak_equity double not null,           -- highest equity so far
    drawdown double not null,              -- 1 - equity / peak_equity
    day_start_equity double not null,      -- equity at the first row of this UTC day
    daily_pnl double not null,             -- equity - day_start_equity
    is_simulated boolean not null,
    primary key (mode, ts)
);

-- The audit trail: one row per (account, strategy, market, bar) decision.
create table trade_decisions (
    id varchar primary key,                -- mode:strategy:exchange:symbol:timeframe:bar_ts
    mode varchar not null,
    strategy varchar not null,
    exchange varchar not null,
    symbol varchar not null,
    timeframe varchar not null,
    bar_ts timestamp not null,
    decided_at timestamp not null,
    model_name varchar,                    -- with model_version, symbol, timeframe and bar_ts:
    model_version varchar,                 -- the key of the ml_predictions row acted on
    prediction_id varchar,                 -- that key as text: <model_name>/v<version>/<bar_ts>
    pred_return double,
    prob_up double,
    confidence double,
    price double,                          -- the bar's close
    position_before double,                -- base amount held or pending before the decision
    target_amount double,                  -- base amount the strategy wants
    order_amount double,                   -- signed base amount ordered (0 when none)
    action varchar not null,               -- order | hold | blocked | skip
    reason varchar,                        -- why no order (hold, blocked or skip)
    checks json,                           -- [{name, passed, value, limit, detail}, ...]
    client_order_id varchar,
    is_simulated boolean,
    created_at timestamp not null          -- wall clock
);
