"""Flow `trade`: at each new closed bar, the champions' predictions become orders under the risk
limits (paper by default; live with `trading.mode = live` and keys). Deployed hourly, after the
features flow; re-running it for the same bar changes nothing."""

from __future__ import annotations

from datetime import datetime

from prefect import flow, task

from cryptobot.alerts import step_alerts
from cryptobot.config import load_settings
from cryptobot.trading.engine import StepResult, Trader, replay
from flows._common import (
    ALERT_HOOKS,
    progress,
    read_secret_block,
    retry_unless_known,
    secrets_out_of_errors,
    warehouse_writes,
)
from flows.predict import resolve_outcomes_task


def log_step(result: StepResult, log) -> None:
    if result.already_marked:
        log(f"{result.as_of:%Y-%m-%d %H:%M}: already traded (the account's last mark is later)")
        return
    for row in result.decisions:
        what = (
            f"{row['action']} {row['order_amount']:+.8g}"
            if row["action"] == "order"
            else f"{row['action']}: {row['reason']}"
        )
        prob = f"prob_up {row['prob_up']:.3f} " if row["prob_up"] is not None else ""
        log(f"{row['symbol']} bar {row['bar_ts']:%Y-%m-%d %H:%M}: {prob}-> {what}")
    if result.already_decided:
        log(f"{result.already_decided} symbol(s) already decided for their newest bar")
    point = result.equity
    log(
        f"{result.mode} account {result.account!r} at {result.as_of:%Y-%m-%d %H:%M} UTC: "
        f"equity {point.equity:,.2f}, "
        f"drawdown {point.drawdown:.2%}, {len(result.fills)} fill(s), {len(result.orders)} new "
        f"order(s){'; KILL SWITCH: no new risk' if result.kill_switch else ''}"
        f"{'; PAUSED: no new risk' if result.paused.paused else ''}"
    )


@task(name="trade-step", retries=2, retry_delay_seconds=20, retry_condition_fn=retry_unless_known)
def trade_step_task(
    as_of: datetime | None, symbols: list[str] | None, account: str | None = None
) -> dict:
    """Fill, mark, decide and order for the newest closed bar. Safe to retry: decisions are
    keyed by bar and orders by client order id."""
    log = progress()
    settings = load_settings()
    with secrets_out_of_errors(), warehouse_writes():
        trader = Trader(
            settings, symbols=symbols, account=account, log=log, read_secret_block=read_secret_block
        )
        result = trader.step(as_of)
    log_step(result, log)
    step_alerts(settings, result, log)  # fills, refusals, stale data; never raises
    return result.summary()


@task(name="replay-trading")
def replay_task(
    days: float,
    end: datetime | None,
    symbols: list[str] | None,
    account: str | None = None,
    allow_in_sample: bool = False,
) -> dict:
    log = progress()
    settings = load_settings()
    with secrets_out_of_errors(), warehouse_writes():
        result = replay(
            settings,
            days=days,
            end=end,
            symbols=symbols,
            account=account,
            allow_in_sample=allow_in_sample,
            log=log,
        )
    return {
        "in_sample": result.in_sample,
        "account": account or settings.trading.account,
        "start": result.start.isoformat(),
        "end": result.end.isoformat(),
        "steps": result.steps,
        "skipped": result.skipped,
        "orders": result.orders,
        "fills": result.fills,
        "equity": result.equity.equity if result.equity else None,
        "drawdown": result.equity.drawdown if result.equity else None,
        "seconds": round(result.seconds, 1),
    }


@flow(name="trade", **ALERT_HOOKS)
def trade(
    as_of: datetime | None = None,
    symbols: list[str] | None = None,
    replay_days: float | None = None,
    account: str | None = None,
    allow_in_sample: bool = False,
) -> dict:
    """Trade the newest closed bar of each symbol with its champion under the risk limits.

    `as_of` (UTC) defaults to the newest stored bar's close; a step refuses when that is older
    than `trading.max_data_age` (the simulated market is exempt: its clock is its newest bar).
    `replay_days` instead runs the step at every bar close of that many days before `as_of`,
    oldest first, as the hourly schedule would have. `account` (default `trading.account`) is
    the paper account traded. A replay over bars a champion trained on is refused unless
    `allow_in_sample` (then labelled in-sample)."""
    if replay_days:
        return {"replay": replay_task(replay_days, as_of, symbols, account, allow_in_sample)}
    step = trade_step_task(as_of, symbols, account)
    resolved = resolve_outcomes_task()
    return {"step": step, "resolved": resolved}
