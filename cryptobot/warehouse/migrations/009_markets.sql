-- 009: each exchange's markets (ccxt `load_markets`), refreshed by every ccxt ingest. The paper
-- broker, the backtest and live trading take a market's order rules from here (overrides in the
-- config win); the simulator keeps its own rules. Steps are normalised from ccxt's precision
-- (TICK_SIZE: the step itself; DECIMAL_PLACES: 10^-places), amounts in the base currency, costs
-- in the quote currency, fees as fractions. `raw` is ccxt's unified market as JSON.
create table markets (
    exchange varchar not null,
    symbol varchar not null,
    base varchar not null,
    quote varchar not null,
    active boolean,
    amount_step double,                    -- amounts are multiples of this
    price_step double,                     -- prices are multiples of this
    min_amount double,                     -- base currency
    min_cost double,                       -- minimum notional, quote currency
    maker_fee double,
    taker_fee double,
    precision_mode varchar not null,       -- ccxt's: tick_size | decimal_places | significant_digits
    fetched_at timestamp not null,
    raw json not null,
    primary key (exchange, symbol)
);

-- A fill's quote-currency money in the account currency: price, fee and costs times this rate
-- (1 when the symbol is quoted in the account currency).
alter table trades add column quote_rate double default 1.0;
alter table backtest_fills add column quote_rate double default 1.0;
