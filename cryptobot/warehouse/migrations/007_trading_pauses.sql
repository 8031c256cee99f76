-- 007: pausing trading by hand (`cryptobot trade pause|resume`, Telegram /pause and /resume).
-- Append-only: one row per pause or resume, the audit trail of who did it, when and why. The
-- newest row (highest id) is the current state; no row at all means trading is not paused.
-- While paused, the trading step sends no order that adds risk (reducing and closing still go,
-- as under the drawdown kill switch). Times are naive UTC.
create sequence trading_pauses_id start 1;

create table trading_pauses (
    id bigint primary key default nextval('trading_pauses_id'),
    paused boolean not null,       -- true: paused from now on; false: resumed
    changed_at timestamp not null,
    changed_by varchar not null,   -- e.g. 'telegram chat 12345 user 678 (@alice)', 'cli alice'
    source varchar not null,       -- telegram | cli
    reason varchar                 -- the free text given with the command
);
