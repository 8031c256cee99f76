-- 010: named paper accounts (issue 15). Every trading row belongs to an `account` (a name, e.g.
-- 'default') as well as a `mode` (paper | live); rows stored before this migration belong to
-- 'default'. `cryptobot account reset|archive NAME` moves an account's rows into the *_archive
-- tables (same columns plus archive_id and archived_at) in one transaction: nothing is deleted
-- without being archived first. The archive tables have no keys: an account reset twice keeps
-- both generations.

-- Every account that has traded, and whether it was archived (an archived account cannot trade
-- until `cryptobot account reset NAME` reopens it empty).
create table accounts (
    account varchar not null,
    mode varchar not null,                 -- paper | live
    created_at timestamp not null,         -- wall clock of its first step
    archived_at timestamp,                 -- set by `account archive`, cleared by `account reset`
    primary key (account, mode)
);

-- One row per reset or archive: what was moved and when.
create table account_archives (
    archive_id varchar primary key,        -- <account>-<mode>-<UTC yyyymmddThhmmss>
    account varchar not null,
    mode varchar not null,
    action varchar not null,               -- reset | archive
    archived_at timestamp not null,
    first_ts timestamp,                    -- the account's first and last equity marks
    last_ts timestamp,
    equity double,                         -- its last equity
    rows json not null                     -- {table: rows moved}
);

alter table orders add column account varchar default 'default';
update orders set account = 'default' where account is null;
alter table orders alter column account set not null;

alter table trades add column account varchar default 'default';
update trades set account = 'default' where account is null;

alter table trade_decisions add column account varchar default 'default';
update trade_decisions set account = 'default' where account is null;
alter table trade_decisions alter column account set not null;

-- a decision on a bar its champion trained on (a replay with --allow-in-sample) is labelled
alter table trade_decisions add column in_sample boolean default false;

-- positions and equity_curve are keyed by account: rebuilt with the new key
create table positions_010 (
    account varchar not null default 'default',
    mode varchar not null,
    exchange varchar not null,
    symbol varchar not null,
    amount double not null,
    avg_price double,
    realized_pnl double not null,
    fees double not null,
    last_price double,
    opened_at timestamp,
    updated_at timestamp not null,
    is_simulated boolean not null,
    primary key (account, mode, exchange, symbol)
);
insert into positions_010 by name select * from positions;
drop table positions;
alter table positions_010 rename to positions;

create table equity_curve_010 (
    account varchar not null default 'default',
    mode varchar not null,
    ts timestamp not null,
    cash double not null,
    positions_value double not null,
    equity double not null,
    gross_exposure double not null,
    peak_equity double not null,
    drawdown double not null,
    day_start_equity double not null,
    daily_pnl double not null,
    is_simulated boolean not null,
    primary key (account, mode, ts)
);
insert into equity_curve_010 by name select * from equity_curve;
drop table equity_curve;
alter table equity_curve_010 rename to equity_curve;

insert into accounts
select 'default', mode, min(decided_at), null from trade_decisions group by mode
union
select 'default', mode, min(ts), null from equity_curve
where mode not in (select mode from trade_decisions) group by mode;

create table orders_archive as
select *, null::varchar as archive_id, null::timestamp as archived_at from orders limit 0;
create table trades_archive as
select *, null::varchar as archive_id, null::timestamp as archived_at from trades limit 0;
create table trade_decisions_archive as
select *, null::varchar as archive_id, null::timestamp as archived_at from trade_decisions limit 0;
create table positions_archive as
select *, null::varchar as archive_id, null::timestamp as archived_at from positions limit 0;
create table equity_curve_archive as
select *, null::varchar as archive_id, null::timestamp as archived_at from equity_curve limit 0;
