"""`cryptobot`: the command line. Each writing command runs the Prefect flow of the same name.

`status` and `sql` only read, so they query the warehouse directly (no orchestration start-up,
clean stdout for scripts); their flows exist for the Prefect UI.
"""

from __future__ import annotations

import csv
import json
import logging
import os
import sys
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from cryptobot import __version__, redact
from cryptobot.commands.options import ModelSpec, SeriesExchange, StrategyName, Symbols, Timeframe
from cryptobot.config import load_settings, normalize_exchange, normalize_symbol
from cryptobot.errors import CryptobotError
from cryptobot.timeframes import timeframe_seconds

app = typer.Typer(
    name="cryptobot",
    help=(
        "Crypto trading data & ML pipeline: ingest market data through a quality gate into "
        "DuckDB, build point-in-time features with dbt, train and judge models walk-forward "
        "in MLflow with a promotion gate, trade the champions under hard risk limits (paper "
        "by default), and report on it all.\n\n"
        "Start offline with `cryptobot demo`, or step by step: `cryptobot ingest`, "
        "`cryptobot validate`, `cryptobot features`, `cryptobot train`, `cryptobot models`, "
        "`cryptobot trade`, `cryptobot report`. The app: `streamlit run app/main.py`. "
        "Configuration: cryptobot.toml and CRYPTOBOT_* environment variables (see README)."
    ),
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode="markdown",
)
console = Console()
err_console = Console(stderr=True)
#: tables are wide: when stdout is not a terminal (a pipe, CI), print this many columns, not 80
PIPE_COLUMNS = "120"


def _fail(exc: CryptobotError | str, exit_code: int | None = None) -> typer.Exit:
    """Print an error's one-paragraph message (a JSON line with ``--log-format json``) and
    return the exit to raise."""
    from cryptobot import logs

    code = exit_code if exit_code is not None else getattr(exc, "exit_code", 1)
    if logs.current_format() == "json":
        print(logs.error_line(str(exc), code), file=sys.stderr, flush=True)
    else:
        err_console.print(f"[bold red]error:[/bold red] {exc}", highlight=False, soft_wrap=True)
    return typer.Exit(code)


def _run(call, *args, **kwargs):
    """Run a flow (or any core call), turning errors into a one-paragraph message and an exit
    code; tracebacks go to the log at DEBUG only (``--log-level debug`` shows them).

    Without PREFECT_API_URL a flow runs on a temporary Prefect server started for this command
    and ended with it, however the command ends (`flows._server`)."""
    from cryptobot.logs import RUN_LOGGERS, TRACEBACK_LOGGER, TracebacksAtDebug

    at_debug = TracebacksAtDebug()
    loggers = [logging.getLogger(name) for name in RUN_LOGGERS]
    for logger in loggers:
        logger.addFilter(at_debug)
    try:
        if type(call).__name__ == "Flow":  # a flow: on a server that dies with this process
            from flows._server import temporary_server

            with temporary_server():
                return call(*args, **kwargs)
        return call(*args, **kwargs)
    except CryptobotError as exc:
        raise _fail(exc) from None
    except Exception as exc:  # a bug, not bad input: say what, keep the traceback for debug
        logging.getLogger(TRACEBACK_LOGGER).debug("unexpected error", exc_info=exc)
        raise _fail(
            f"unexpected {type(exc).__name__}: {exc}. This is a bug in cryptobot, not in your "
            "input: run the command again with `cryptobot --log-level debug ...` for the "
            "traceback, and report it with that output.",
            1,
        ) from None
    finally:
        for logger in loggers:
            logger.removeFilter(at_debug)


def _version(value: bool) -> None:
    if value:
        console.print(f"cryptobot {__version__}")
        raise typer.Exit()


class LogFormatName(StrEnum):
    text = "text"
    json = "json"


class LogLevelName(StrEnum):
    DEBUG = "DEBUG"
    INFO = "INFO"
    WARNING = "WARNING"
    ERROR = "ERROR"


@app.callback()
def main(
    warehouse: Annotated[
        Path | None,
        typer.Option(
            help="DuckDB warehouse file (default data/warehouse.duckdb; env CRYPTOBOT_WAREHOUSE). "
            "MLflow, artifacts and reports then live beside it: in its folder for a file named "
            "warehouse.duckdb, else in <folder>/<file stem>/."
        ),
    ] = None,
    mlflow_tracking_uri: Annotated[
        str | None,
        typer.Option(
            help="MLflow tracking and registry store (default sqlite:///<data dir>/mlflow.db; "
            "env CRYPTOBOT_MLFLOW_TRACKING_URI, else MLflow's own MLFLOW_TRACKING_URI)."
        ),
    ] = None,
    log_format: Annotated[
        LogFormatName | None,
        typer.Option(
            help="text (default) or json: one JSON object per log line with time, level, flow, "
            "flow run id, task, target and message (env CRYPTOBOT_LOG_FORMAT)."
        ),
    ] = None,
    log_level: Annotated[
        LogLevelName | None,
        typer.Option(
            help="The project's log level (default INFO; env CRYPTOBOT_LOG_LEVEL); DEBUG also "
            "logs the traceback of an error."
        ),
    ] = None,
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Show version.")
    ] = False,
) -> None:
    if warehouse is not None:
        os.environ["CRYPTOBOT_WAREHOUSE"] = str(warehouse.resolve())
    if mlflow_tracking_uri is not None:
        os.environ["CRYPTOBOT_MLFLOW_TRACKING_URI"] = mlflow_tracking_uri
    if not sys.stdout.isatty():  # Rich reads COLUMNS when it prints
        os.environ.setdefault("COLUMNS", PIPE_COLUMNS)
    chosen = (("CRYPTOBOT_LOG_FORMAT", log_format), ("CRYPTOBOT_LOG_LEVEL", log_level))
    for variable, value in chosen:
        if value is not None:  # flows in this process read the settings too
            os.environ[variable] = value.value
    redact.install()  # every log record of this process, Prefect's too, hides known secrets
    try:
        settings = load_settings()  # invalid configuration fails here, naming the field
    except CryptobotError as exc:
        raise _fail(exc) from None
    from cryptobot import logs

    logs.configure(settings.log_format, settings.log_level)


class Source(StrEnum):
    simulator = "simulator"
    ccxt = "ccxt"


class FileFormat(StrEnum):
    auto = "auto"
    ccxt = "ccxt"
    binance = "binance"


class OutputFormat(StrEnum):
    table = "table"
    csv = "csv"
    json = "json"


def _symbols(value: str | None) -> list[str] | None:
    if value is None:
        return None
    return [item.strip() for item in value.split(",") if item.strip()]


@app.command()
def ingest(
    source: Annotated[
        Source | None, typer.Option(help="simulator (offline, default) or ccxt (live exchange).")
    ] = None,
    symbols: Symbols = None,
    timeframe: Annotated[
        str | None, typer.Option(help="Bar length: 1m, 5m, 15m, 1h, 4h, 1d (default: config).")
    ] = None,
    exchange: Annotated[
        str | None,
        typer.Option(help="ccxt exchange id: binance, kraken, tokocrypto, indodax, ..."),
    ] = None,
    since: Annotated[
        datetime | None,
        typer.Option(help="ccxt: fetch from this UTC date instead of the stored cursor."),
    ] = None,
    days: Annotated[int | None, typer.Option(help="simulator: days of history.")] = None,
    seed: Annotated[int | None, typer.Option(help="simulator: random seed.")] = None,
    signal: Annotated[
        float | None,
        typer.Option(help="simulator: corr(sentiment at bar t, return of bar t+1), in [0, 1)."),
    ] = None,
    allow_revisions: Annotated[
        bool,
        typer.Option(
            "--allow-revisions",
            help="ccxt: store restated bars even beyond ingest.revision_max_sigma (see import).",
        ),
    ] = False,
) -> None:
    """Fetch candles, run the quality gate on each batch, and upsert them into the warehouse.

    Examples: `cryptobot ingest --source simulator --days 60 --symbols BTC/USDT,ETH/USDT`;
    `cryptobot ingest --source ccxt --exchange binance --symbols BTC/USDT --since 2024-01-01`.
    Re-running changes nothing; a killed run resumes from the last stored bar. A ccxt ingest
    also stores the exchange's markets (amount step, minimums, fees from ccxt's load_markets),
    the rules paper trading and backtests use.
    """
    from flows.ingest import ingest as ingest_flow

    simulator = {"days": days, "seed": seed, "signal": signal}
    # checked here, before Prefect starts: a bad value fails at once, naming the option
    settings = _run(
        load_settings,
        source=source.value if source else None,
        symbols=_symbols(symbols),
        timeframes=[timeframe] if timeframe else None,
        exchange=exchange,
        simulator={key: value for key, value in simulator.items() if value is not None} or None,
    )
    result = _run(
        ingest_flow,
        source=settings.source,
        symbols=settings.symbols,
        timeframe=settings.timeframes[0],
        exchange=settings.exchange,
        since=since,
        days=settings.simulator.days,
        seed=settings.simulator.seed,
        signal=settings.simulator.signal,
        allow_revisions=allow_revisions,
    )
    console.print(f"[green]ingest done:[/green] {result['summary']}", highlight=False)


@app.command("import")
def import_(
    path: Annotated[
        Path,
        typer.Argument(
            help="CSV or Parquet file (ccxt OHLCV or Binance klines); gzip (.csv.gz) or a zip "
            "of one file is read as it is.",
            exists=True,
            dir_okay=False,
            readable=True,
        ),
    ],
    exchange: Annotated[str, typer.Option(help="Exchange the data came from, e.g. binance.")],
    symbol: Annotated[str, typer.Option(help="Symbol, e.g. BTC/USDT.")],
    timeframe: Annotated[
        str,
        typer.Option(help="Bar length of the file, e.g. 1h; a file spaced otherwise is refused."),
    ] = "1h",
    file_format: Annotated[
        FileFormat, typer.Option("--format", help="auto-detect, ccxt layout, or binance klines.")
    ] = FileFormat.auto,
    allow_revisions: Annotated[
        bool,
        typer.Option(
            "--allow-revisions",
            help="Store changes to stored bars even beyond ingest.revision_max_sigma standard "
            "deviations of the series' recent returns (the old values are kept either way).",
        ),
    ] = False,
) -> None:
    """Import a file through the quality gate: ccxt layout (timestamp ms or ISO time, open, high,
    low, close, volume) as CSV/Parquet, or a Binance public-data kline CSV (ms or µs), plain,
    gzip-compressed or a zip of one file.

    Refused before anything is stored: bars spaced other than `--timeframe` (gaps aside), bars
    before the exchange's first trading day or in the future. A file that changes stored bars
    keeps their previous values in table market_data_revisions (`cryptobot status` counts them);
    a change beyond `ingest.revision_max_sigma` SDs of the series' recent log returns refuses
    the whole file unless `--allow-revisions`.

    Examples: `cryptobot import BTCUSDT-1h-2024-01.zip --exchange binance --symbol BTC/USDT`;
    `cryptobot import eth.csv.gz --exchange kraken --symbol ETH/USD --timeframe 5m`;
    `cryptobot import fixed.csv --exchange binance --symbol BTC/USDT --allow-revisions`.
    """
    from flows.import_file import import_file

    # the same names as everywhere else: BASE/QUOTE symbols, lower-case exchange ids
    symbol = _run(normalize_symbol, symbol)
    exchange = _run(normalize_exchange, exchange)
    _run(timeframe_seconds, timeframe)
    result = _run(
        import_file,
        path=str(path),
        exchange=exchange,
        symbol=symbol,
        timeframe=timeframe,
        file_format=file_format.value,
        allow_revisions=allow_revisions,
    )
    console.print(f"[green]import done:[/green] {result['summary']}", highlight=False)


@app.command()
def features(
    full_refresh: Annotated[
        bool, typer.Option("--full-refresh", help="Rebuild every feature row from scratch.")
    ] = False,
    select: Annotated[str | None, typer.Option(help="dbt selection, e.g. fct_features+.")] = None,
) -> None:
    """Build and test the dbt feature models (incremental: only new bars plus warm-up)."""
    from flows.features import features as features_flow

    result = _run(features_flow, full_refresh=full_refresh, select=select)
    console.print(
        f"[green]features done:[/green] {result['models_built']} models, "
        f"{result['tests_passed']} tests passed, fct_features has {result['rows']:,} rows "
        f"({result['seconds']} s)"
    )


@app.command()
def validate(
    exchange: Annotated[str | None, typer.Option(help="Only this exchange.")] = None,
    symbol: Annotated[str | None, typer.Option(help="Only this symbol.")] = None,
    timeframe: Annotated[str | None, typer.Option(help="Only this timeframe.")] = None,
) -> None:
    """Re-run the quality suites on stored data (per series) and record the results.

    Exits non-zero if any suite fails. Gaps are reported, not fatal."""
    from cryptobot.render import rows_table
    from flows.validate import validate as validate_flow

    exchange = exchange.strip().lower() if exchange else None
    runs = _run(validate_flow, exchange=exchange, symbol=symbol, timeframe=timeframe)
    console.print(
        rows_table(
            ["table", "exchange", "symbol", "timeframe", "rows", "passed", "failures", "gaps"],
            [
                [
                    r["table"],
                    r["exchange"],
                    r["symbol"],
                    r["timeframe"],
                    r["rows"],
                    "yes" if r["success"] else "NO",
                    ", ".join(f"{k} ({v})" for k, v in r["failures"].items()),
                    r["gaps"],
                ]
                for r in runs
            ],
            title="validation",
        )
    )
    if not runs:
        wanted = ", ".join(
            f"{name} {value}"
            for name, value in [
                ("exchange", exchange),
                ("symbol", symbol),
                ("timeframe", timeframe),
            ]
            if value
        )
        err_console.print(
            f"no stored series match {wanted}: see `cryptobot status`"
            if wanted
            else "nothing stored yet: run `cryptobot ingest` first"
        )
        raise typer.Exit(1)
    if any(not r["success"] for r in runs):
        raise typer.Exit(4)


@app.command()
def status(
    gaps: Annotated[int, typer.Option(help="How many of the largest gaps to list.")] = 5,
) -> None:
    """What is in the warehouse: per exchange/symbol/timeframe first and last bar, rows, gaps;
    sentiment; features; recent batches and quarantine; whether trading is paused (by whom)."""
    from cryptobot.render import status_tables
    from cryptobot.trading.pause import pause_state
    from cryptobot.warehouse.db import read_connection

    settings = load_settings()
    console.print(f"warehouse: {settings.warehouse}")
    try:
        with read_connection(settings.warehouse, timeout=settings.write_lock_timeout) as con:
            pause = pause_state(con)
            for table in status_tables(con, gaps=gaps):
                console.print(table)
        style = "bold red" if pause.paused else "green"
        console.print(f"[{style}]{pause.describe()}[/{style}]", highlight=False, soft_wrap=True)
    except CryptobotError as exc:
        raise _fail(exc) from None


@app.command()
def sql(
    query: Annotated[
        str, typer.Argument(help='A SQL statement, e.g. "select count(*) from market_data".')
    ],
    limit: Annotated[int, typer.Option(help="At most this many rows.", min=1)] = 100,
    output: Annotated[OutputFormat, typer.Option("--format", help="table, csv or json.")] = (
        OutputFormat.table
    ),
    allow_files: Annotated[
        Path | None,
        typer.Option(
            metavar="DIR",
            help="Let the query read files under this directory (read_csv, read_parquet, ...); "
            "without it the query reads only the warehouse.",
        ),
    ] = None,
) -> None:
    """Run a read-only query on the warehouse and print the result.

    One statement that reads. The connection is confined to the warehouse: no other file
    (`read_csv('/etc/passwd')` is refused), no URL, no extension installed or loaded, no setting
    changed. `--allow-files DIR` lets it read files under DIR, e.g.
    `cryptobot sql "select count(*) from read_csv('data/raw/*.csv')" --allow-files data/raw`."""
    from cryptobot.query import run_query
    from cryptobot.render import rows_table

    result = _run(run_query, load_settings(), query, limit=limit, allow_files=allow_files)
    if output is OutputFormat.csv:
        writer = csv.writer(sys.stdout)
        writer.writerow(result.columns)
        writer.writerows(result.rows)
    elif output is OutputFormat.json:
        records = [dict(zip(result.columns, row, strict=True)) for row in result.rows]
        sys.stdout.write(json.dumps(records, default=str, indent=1) + "\n")
    else:
        console.print(rows_table(result.columns, result.rows, exact=True))
        console.print(result.footer(), style="dim")


def _money(value: float | None, *, signed: bool = False) -> str:
    from cryptobot.render import money_text  # imported on use: rich tables cost ~0.2 s

    return money_text(value, signed=signed)


def _pct(value: float | None, digits: int = 1) -> str:
    return "–" if value is None else f"{value:.{digits}%}"


def _num(value: float | None, fmt: str = ".2f") -> str:
    return "–" if value is None else format(value, fmt)


def _print_training(summary: dict) -> None:
    from cryptobot.render import rows_table

    families = summary["families"]
    title = summary["target"] + (" [SIMULATED]" if summary["simulated"] else "")
    if summary.get("unchanged"):
        console.print(
            f"[dim]{summary['target']}: unchanged since {summary['unchanged_since']} (same rows, "
            "families, settings and code): nothing trained; that run's results:[/dim]",
            highlight=False,
        )
    console.print(
        rows_table(
            ["family", "version", "cv acc", "holdout acc", "binom p", "edge", "DM p", "IC", "secs"],
            [
                [
                    f["family"] + (" (baseline)" if f["baseline"] else ""),
                    f["version"] or "–",
                    _pct(f["cv_accuracy"]),
                    _pct(f["holdout_directional_accuracy"]),
                    _num(f["binomial_p"], ".2g"),
                    "YES" if f["edge"] else "no",
                    _num(f["dm_direction_p"], ".2g"),
                    _num(f["holdout_ic"], ".3f"),
                    f"{f['seconds']:.1f}",
                ]
                for f in families
            ],
            title=f"{title}: out of sample, {summary['folds']} walk-forward folds, holdout "
            f"{summary['holdout_rows']:,} rows; accuracy over bars that moved (a zero return is "
            "neither up nor down). edge = binomial p (vs always calling the majority direction) < "
            f"{summary['alpha']:g} / {len(families)} families; DM vs {summary['best_baseline']}",
        )
    )
    bh = summary.get("buy_and_hold") or {}
    strategy_rows = [
        [
            f["family"],
            _pct(f["holdout_total_return"]),
            _num(f["holdout_sharpe"]),
            _pct(f["holdout_max_drawdown"]),
            _num(f["holdout_trades"], ".0f"),
            _pct(f["holdout_win_rate"]),
            _num(f["holdout_profit_factor"]),
            _num(f.get("holdout_costs"), ",.2f"),
        ]
        for f in families
    ]
    if bh:
        strategy_rows.append(
            [
                "buy-and-hold",
                _pct(bh.get("total_return")),
                _num(bh.get("sharpe")),
                _pct(bh.get("max_drawdown")),
                "–",
                "–",
                "–",
                _num(bh.get("costs"), ",.2f"),
            ]
        )
    console.print(
        rows_table(
            [
                "family",
                "return",
                "Sharpe",
                "max DD",
                "trades",
                "win rate",
                "profit factor",
                "costs",
            ],
            strategy_rows,
            title=f"holdout backtest, after costs: {summary.get('strategy', 'long_flat')} on each "
            "family's predictions through the trading flow's execution core (next-open fills, "
            f"{summary['fee']:.2%} fee, spread, slippage, impact, every risk limit)"
            + (
                f"; challenger's deflated Sharpe {summary['deflated_sharpe']:.3f} over "
                f"{summary['trials']} trial(s)"
                if summary.get("deflated_sharpe") is not None
                else ""
            ),
        )
    )
    if summary["roadmap"]:
        console.print(
            rows_table(
                ["metric", "roadmap target", "measured", "met"],
                [
                    [
                        r["metric"],
                        r["target"],
                        _num(r["measured"], ".3f"),
                        "yes" if r["met"] else "no",
                    ]
                    for r in summary["roadmap"]
                ],
                title=f"roadmap targets: {summary['challenger']} on the holdout",
            )
        )
    _print_held_back(summary.get("held_back") or {})
    style = "green" if summary["promoted"] else "yellow"
    label = "gate (that run)" if summary.get("unchanged") else "gate"
    console.print(f"[{style}]{label}:[/{style}] {summary['decision']}", highlight=False)


def _mlflow_ui_hint(settings) -> str:
    return (
        f".venv/bin/mlflow ui --backend-store-uri {settings.tracking_uri} --port 5000, "
        "then open http://127.0.0.1:5000"
    )


@app.command()
def train(
    symbols: Symbols = None,
    families: Annotated[
        str | None,
        typer.Option(
            help="Comma-separated model families, e.g. xgboost,lstm (default: config). "
            "The baselines persistence, always_up and zero_return always run."
        ),
    ] = None,
    folds: Annotated[
        int | None, typer.Option(help="Walk-forward folds before the holdout (default 5).", min=1)
    ] = None,
    horizon: Annotated[
        int | None, typer.Option(help="Label horizon in bars (default 1).", min=1)
    ] = None,
    timeframe: Timeframe = None,
    exchange: SeriesExchange = None,
    retrain: Annotated[
        bool,
        typer.Option(
            "--retrain", help="Train even when rows, families, settings and code are unchanged."
        ),
    ] = False,
) -> None:
    """Train the model families per symbol on fct_features, walk-forward with an embargo and a
    final holdout; log every run to MLflow, register each model, and run the promotion gate.

    `champion` goes only to the best model (by walk-forward accuracy) when, on the holdout, it
    is significantly better than 50% and than the best baseline, and beats the current champion.
    Re-running on unchanged rows, families, settings and code trains nothing and shows the
    earlier result (`--retrain` trains anyway).
    """
    from flows.train import train as train_flow
    from models.families import family_names

    settings = _run(
        load_settings,
        symbols=_symbols(symbols),
        timeframes=[timeframe] if timeframe else None,
    )
    chosen = _symbols(families)
    if chosen:
        unknown = [name for name in chosen if name not in family_names()]
        if unknown:
            raise _fail(
                CryptobotError(
                    f"unknown model family {', '.join(unknown)}; known: {', '.join(family_names())}"
                )
            )
    exchange = _run(normalize_exchange, exchange) if exchange else None
    summaries = _run(
        train_flow,
        symbols=settings.symbols,
        families=chosen,
        folds=folds,
        horizon=horizon,
        timeframe=settings.timeframes[0],
        exchange=exchange,
        retrain=retrain,
    )
    for summary in summaries:
        _print_training(summary)
    console.print(f"\ncompare runs: {_mlflow_ui_hint(settings)}", soft_wrap=True, highlight=False)


@app.command()
def models(
    name: Annotated[
        str | None, typer.Argument(help="A registered model: list its versions.")
    ] = None,
) -> None:
    """List registered models with their champion and its out-of-sample (holdout) metrics; with
    NAME, that model's versions, their gate decisions and aliases."""
    from cryptobot.render import rows_table
    from models.registry import list_models, model_versions

    settings = load_settings()
    if name:
        versions = _run(model_versions, settings, name)
        console.print(
            rows_table(
                [
                    "version",
                    "family",
                    "aliases",
                    "cv acc",
                    "holdout acc",
                    "binom p",
                    "gate",
                    "why / by",
                    "created",
                ],
                [
                    [
                        v["version"],
                        v["family"],
                        ",".join(v["aliases"]),
                        _pct(v["cv_accuracy"]),
                        _pct(v["holdout_accuracy"]),
                        _num(v["holdout_binomial_p"], ".2g"),
                        v["gate"],
                        v["gate_reasons"] if v["gate"] == "refused" else v["promoted_by"],
                        f"{v['created']:%Y-%m-%d %H:%M}",
                    ]
                    for v in versions
                ],
                title=name,
            )
        )
        return
    registered = _run(list_models, settings)
    if not registered:
        err_console.print("no registered models yet: run `cryptobot train`")
        raise typer.Exit(1)
    console.print(
        rows_table(
            [
                "model",
                "versions",
                "champion",
                "holdout acc",
                "live acc",
                "binom p",
                "Sharpe",
                "max DD",
                "win",
                "PF",
                "by",
            ],
            [
                [
                    m["name"] + (" *" if m["simulated"] else ""),
                    m["versions"],
                    f"v{m['champion']} {m['champion_family']}" if m["champion"] else "none",
                    _pct(m["metrics"].get("directional_accuracy")),
                    f"{_pct(m['live'][1])} of {m['live'][0]}" if m["live"] else "–",
                    _num(m["metrics"].get("binomial_p"), ".2g"),
                    _num(m["metrics"].get("sharpe")),
                    _pct(m["metrics"].get("max_drawdown")),
                    _pct(m["metrics"].get("win_rate")),
                    _num(m["metrics"].get("profit_factor")),
                    m["promoted_by"] or "–",
                ]
                for m in registered
            ],
            title=f"registered models ({settings.tracking_uri}); metrics are the champion's "
            "on its holdout, live accuracy from resolved ml_predictions"
            + (
                f"; {sum(m['incomplete'] for m in registered)} incomplete version(s) a killed "
                "training left are not counted"
                if any(m["incomplete"] for m in registered)
                else ""
            )
            + (
                "; * = trained on SIMULATED data" if any(m["simulated"] for m in registered) else ""
            ),
            keep=(0, 2, 4),
        )
    )


@app.command()
def promote(
    name: Annotated[str, typer.Argument(help="Registered model, e.g. simulator.BTC-USDT.1h.h1.")],
    version: Annotated[str, typer.Argument(help="Version number to make champion.")],
    force: Annotated[
        bool, typer.Option("--force", help="Human override of the gate (needs --reason).")
    ] = False,
    reason: Annotated[str | None, typer.Option(help="Why (recorded in the version's tags).")] = (
        None
    ),
    by: Annotated[str | None, typer.Option(help="Who (default: your user name).")] = None,
) -> None:
    """Give the `champion` alias to a model version. Without --force only a version the gate
    passed; with --force (and --reason) any version, recorded with who, when and why."""
    from models.registry import promote as promote_version

    result = _run(
        promote_version, load_settings(), name, version, force=force, reason=reason, by=by
    )
    previous = f" (was v{result['previous']})" if result["previous"] else ""
    console.print(
        f"[green]champion:[/green] {result['name']} v{result['version']} "
        f"({result['family']}){previous}, by {result['promoted_by']}"
        + (f": {result['promotion.reason']}" if result.get("promotion.reason") else ""),
        highlight=False,
    )


@app.command()
def predict(
    symbols: Symbols = None,
    bars: Annotated[
        int,
        typer.Option(
            help="Predict the newest N closed bars (already stored ones are kept).", min=1
        ),
    ] = 1,
    horizon: Annotated[
        int | None, typer.Option(help="Label horizon in bars (default 1).", min=1)
    ] = (None),
    timeframe: Timeframe = None,
) -> None:
    """Ask each symbol's champion for the newest closed bars, store the predictions in
    ml_predictions, and fill the outcome (actual, correct) of earlier ones whose bars closed."""
    from flows.predict import predict as predict_flow

    settings = _run(
        load_settings, symbols=_symbols(symbols), timeframes=[timeframe] if timeframe else None
    )
    result = _run(
        predict_flow,
        symbols=settings.symbols,
        bars=bars,
        horizon=horizon,
        timeframe=settings.timeframes[0],
    )
    for p in result["predictions"]:
        if p["version"] is None:
            console.print(f"{p['target']}: no champion (run `cryptobot train`)", highlight=False)
            continue
        latest = p["latest"]
        call = "up" if latest["direction"] == 1 else "down"
        console.print(
            f"{p['target']}: v{p['version']} ({p['family']}) bar {p['latest_ts']}: {call}, "
            f"prob_up {latest['prob_up']:.3f}, return {latest['pred_return']:+.5f} "
            f"({p['stored']} new)",
            highlight=False,
        )
    console.print(f"resolved {result['resolved']} earlier prediction(s)", highlight=False)


def _print_step(step: dict, currency: str) -> None:
    from rich.table import Table

    if step["already_marked"]:
        console.print(
            f"{step['as_of']}: already traded (the account's last mark is later); nothing done",
            highlight=False,
        )
        return
    if step["decisions"]:
        title = (
            f"decisions at {step['as_of']} UTC (account {step['account']}, {step['mode']}, "
            f"{step['strategy']})"
        )
        table = Table(title=title)
        for column in ("symbol", "bar", "model", "prob_up", "action", "order", "why not"):
            table.add_column(column, justify="right" if column in ("prob_up", "order") else "left")
        for d in step["decisions"]:
            table.add_row(
                d["symbol"],
                f"{d['bar_ts']:%Y-%m-%d %H:%M}",
                f"v{d['model_version']}" if d["model_version"] else "–",
                f"{d['prob_up']:.3f}" if d["prob_up"] is not None else "–",
                d["action"],
                f"{d['order_amount']:+.8g}" if d["action"] == "order" else "",
                d["reason"] or "",
            )
        console.print(table)
    if step["already_decided"]:
        console.print(
            f"{step['already_decided']} symbol(s) already decided for their newest bar "
            "(re-run: nothing sent twice)",
            highlight=False,
        )
    kill = " [bold red]KILL SWITCH: no new risk[/bold red]" if step["kill_switch"] else ""
    if step.get("paused"):
        kill += f" [bold red]PAUSED: no new risk[/bold red] ({step['paused']})"
    console.print(
        f"{step['mode']} account {step['account']}: equity {_money(step['equity'])} "
        f"{currency}, drawdown {step['drawdown']:.2%}, "
        f"today {_money(step['daily_pnl'], signed=True)}; "
        f"{step['fills']} fill(s), {step['orders']} new "
        f"order(s){kill}",
        highlight=False,
    )


@app.command()
def trade(
    as_of: Annotated[
        datetime | None,
        typer.Option(
            "--as-of",
            metavar="YYYY-MM-DD[THH:MM]",
            help="Decide as of this UTC time (default: the close of the newest stored bar; a "
            "step refuses when that is older than trading.max_data_age, except on the "
            "simulated market).",
            formats=["%Y-%m-%d", "%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M:%S"],
        ),
    ] = None,
    symbols: Symbols = None,
    replay_days: Annotated[
        float | None,
        typer.Option(
            "--replay-days",
            help="Instead of one step: run the step at every bar close of the N days up to "
            "--as-of (default: the newest stored bar, however old), oldest first, as the "
            "hourly schedule would have.",
            min=0,
        ),
    ] = None,
    account: Annotated[
        str | None,
        typer.Option(
            help="The paper account to trade (default: trading.account, 'default'). A new name "
            "starts a fresh account with trading.initial_capital; see `cryptobot account list`."
        ),
    ] = None,
    allow_in_sample: Annotated[
        bool,
        typer.Option(
            "--allow-in-sample",
            help="Let --replay-days reach bars a champion trained on (before its holdout); the "
            "replay and those decisions are then labelled in-sample. Refused without it.",
        ),
    ] = False,
) -> None:
    """Trade the newest closed bar: each symbol's champion predicts it, the strategy sets a
    target position, the risk limits check it, and the broker gets the order (paper by default:
    filled at the next bar's open with fee, spread and slippage). Every decision is audited in
    trade_decisions; re-running for the same bar sends nothing twice. Live trading needs
    trading.mode = live, source = ccxt and keys: CRYPTOBOT_EXCHANGE_API_KEY /
    CRYPTOBOT_EXCHANGE_SECRET, or stored with `cryptobot keys set EXCHANGE`; a key that may
    withdraw is refused where the exchange tells (Binance).

    Without --as-of the step acts at the close of the newest stored bar and refuses when that
    is older than trading.max_data_age (default two bars): ingest first, or pass --as-of.

    Examples: `cryptobot trade`, `cryptobot trade --account momentum --replay-days 30`,
    `cryptobot trade --as-of 2025-06-01T12:00`."""
    from flows.trade import trade as trade_flow

    settings = _run(
        load_settings,
        symbols=_symbols(symbols),
        **({"trading": {"account": account}} if account else {}),
    )
    result = _run(
        trade_flow,
        as_of=as_of,
        symbols=settings.symbols,
        replay_days=replay_days,
        account=settings.trading.account,
        allow_in_sample=allow_in_sample,
    )
    currency = settings.trading.account_currency
    if "replay" in result:
        _print_replay(result["replay"], currency)
    else:
        _print_step(result["step"], currency)


def _print_replay(replay: dict, currency: str) -> None:
    if replay["equity"] is None:
        console.print(
            f"replay {replay['start']} .. {replay['end']}: every bar was traded before; "
            "nothing done",
            highlight=False,
        )
        return
    console.print(
        f"replay of account {replay.get('account', 'default')} {replay['start']} .. "
        f"{replay['end']}: {replay['steps']} bar(s) "
        f"({replay['skipped']} traded before), {replay['orders']} order(s), {replay['fills']} "
        f"fill(s); equity {_money(replay['equity'])} {currency}, drawdown "
        f"{replay['drawdown']:.2%} "
        f"({replay['seconds']:.0f} s)",
        highlight=False,
    )
    if replay.get("in_sample"):
        console.print(
            "[bold yellow]IN-SAMPLE:[/bold yellow] a champion trained on some of these bars "
            "(--allow-in-sample): its decisions there flatter it and are labelled in_sample in "
            "trade_decisions; not a result",
            highlight=False,
        )


def _metric(value, fmt: str) -> str:
    if value is None:
        return "–"
    return _pct(value) if fmt == "pct" else format(value, fmt)


def _print_backtest(summary: dict) -> None:
    from cryptobot.backtest.display import DISPLAY
    from cryptobot.render import rows_table

    labels = []
    if summary["simulated"]:
        labels.append("SIMULATED")
    if summary["in_sample"]:
        labels.append("IN-SAMPLE: some predictions are of bars the models trained on")
    costs = summary["costs"]
    console.print(
        f"[bold]backtest {summary['strategy']}[/bold] on {', '.join(summary['symbols'])} "
        f"({summary['exchange']} {summary['timeframe']}), decisions {summary['start']} .. "
        f"{summary['end']} UTC ({summary['bars']:,} bars), capital {summary['capital']:,.2f} "
        f"{summary['account_currency']}; "
        f"fee {costs['fee']:.3%}, spread {costs['spread']:.3%}, slippage "
        f"{costs['slippage']:.3%}, impact {costs['impact']:g}"
        + (f"  [bold yellow]{' | '.join(labels)}[/bold yellow]" if labels else ""),
        highlight=False,
        soft_wrap=True,
    )
    for symbol, model in summary["models"].items():
        source = summary["prediction_source"].get(symbol, {})
        bars = ", ".join(f"{n:,} {where}" for where, n in source.get("bars", {}).items())
        console.print(f"  {symbol}: {model}; predictions: {bars}", highlight=False)
    columns = [summary["strategy"], *(leg["label"] for leg in summary["legs"])]
    table = rows_table(
        ["after costs, out of sample", *columns],
        [
            [
                label,
                *(
                    _metric(m.get(key), fmt)
                    for m in [summary["metrics"], *(leg["metrics"] for leg in summary["legs"])]
                ),
            ]
            for key, label, fmt in DISPLAY
            if key in summary["metrics"]
        ],
        title="the strategy beside buy-and-hold and the baselines (same engine, window, costs "
        "and risk limits)",
    )
    console.print(table)
    _print_held_back(summary["metrics"])
    console.print(
        rows_table(
            ["metric", "roadmap target", "measured", "met"],
            [
                [r["metric"], r["target"], _num(r["measured"], ".3f"), "yes" if r["met"] else "no"]
                for r in summary["roadmap"]
            ],
            title="roadmap targets (fixed; not adjusted to the result)",
        )
    )
    if summary.get("monte_carlo"):
        console.print(
            rows_table(
                ["method", "metric", "original", "p5", "p25", "median", "p75", "p95", "P(breach)"],
                [
                    [
                        r["method"],
                        r["metric"],
                        *(
                            _num(r[k], ".3f")
                            for k in ("original", "p5", "p25", "p50", "p75", "p95")
                        ),
                        _pct(r["prob_breach"])
                        if r.get("prob_breach") is not None and r["prob_breach"] == r["prob_breach"]
                        else "",
                    ]
                    for r in summary["monte_carlo"]
                ],
                title=f"Monte Carlo: P(breach) = share of paths whose max drawdown reaches "
                f"max_drawdown {summary['max_drawdown_limit']:.0%}",
            )
        )
    stored = (
        f"stored as {summary['run_id']}"
        if summary["new_runs"]
        else f"{summary['run_id']}: backtested before with the same inputs; nothing stored again"
    )
    console.print(
        f"{stored}; engine {summary['engine_seconds']:.3f} s, all {summary['seconds']:.1f} s",
        highlight=False,
    )


def _print_held_back(metrics: dict) -> None:
    """What kept the strategy's decisions from trading, when anything did."""
    held = {
        "below the market's minimum amount": metrics.get("held_min_amount") or 0,
        "below the market's minimum notional": metrics.get("held_min_notional") or 0,
    }
    blocked = {
        key.removeprefix("blocked_by_"): value
        for key, value in metrics.items()
        if key.startswith("blocked_by_") and value
    }
    if not any(held.values()) and not blocked:
        return
    parts = [f"{n:,.0f} held back {why}" for why, n in held.items() if n]
    if blocked:
        parts.append(
            f"{metrics.get('blocked') or 0:,.0f} blocked by risk checks ("
            + ", ".join(
                f"{name} {n:,.0f}" for name, n in sorted(blocked.items(), key=lambda i: -i[1])
            )
            + ")"
        )
    console.print(
        "decisions that did not trade: " + "; ".join(parts) + ". Limits are in the account "
        "currency (trading.account_currency); market minimums in each symbol's quote currency.",
        highlight=False,
        soft_wrap=True,
    )


@app.command()
def backtest(
    symbols: Symbols = None,
    timeframe: Timeframe = None,
    exchange: SeriesExchange = None,
    start: Annotated[
        datetime | None,
        typer.Option(
            metavar="YYYY-MM-DD[THH:MM]",
            help="First decision time (a bar close, UTC); default: the first bar with an "
            "out-of-sample prediction.",
            formats=["%Y-%m-%d", "%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M"],
        ),
    ] = None,
    end: Annotated[
        datetime | None,
        typer.Option(
            metavar="YYYY-MM-DD[THH:MM]",
            help="Last decision time (default: the newest bar's close).",
            formats=["%Y-%m-%d", "%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M"],
        ),
    ] = None,
    strategy: StrategyName = None,
    model: ModelSpec = None,
    capital: Annotated[
        float | None, typer.Option(help="Starting equity (default: trading.initial_capital).")
    ] = None,
    fee: Annotated[
        float | None,
        typer.Option(
            help="Taker fee per fill, for every market (default: each market's stored fee, "
            "else trading.fee)."
        ),
    ] = None,
    spread: Annotated[
        float | None, typer.Option(help="Assumed relative spread (trading.spread).")
    ] = None,
    slippage: Annotated[
        float | None, typer.Option(help="Fixed slippage (trading.slippage).")
    ] = None,
    impact: Annotated[
        float | None, typer.Option(help="Square-root impact factor (trading.impact).")
    ] = None,
    allow_in_sample: Annotated[
        bool,
        typer.Option(
            "--allow-in-sample",
            help="Run where no out-of-sample prediction exists, on predictions of bars the "
            "models trained on; the run is labelled in-sample everywhere.",
        ),
    ] = False,
    monte_carlo: Annotated[
        int,
        typer.Option(
            "--monte-carlo",
            metavar="N",
            help="N paths of trade reshuffling and of a block bootstrap of bar returns: "
            "percentiles of return, drawdown and Sharpe, P(max drawdown breached).",
            min=0,
        ),
    ] = 0,
    seed: Annotated[int, typer.Option(help="Monte Carlo seed.")] = 0,
) -> None:
    """Replay a strategy over stored history through the same strategy, sizing, risk checks and
    paper fill model as `cryptobot trade`, on predictions no model saw the answer to, and print
    its after-cost metrics beside buy-and-hold, the baselines and the roadmap targets.

    Each bar uses the walk-forward fold's prediction where the bar was in a fold's test block,
    and the model itself from its holdout on. Stored in the warehouse (backtest_* tables) and
    MLflow; re-running the same backtest stores nothing new. Examples: `cryptobot backtest`,
    `cryptobot backtest --symbols BTC/USDT --start 2025-10-01 --monte-carlo 1000`,
    `cryptobot backtest --strategy sma_cross --fee 0.0005`.
    """
    from flows.backtest import backtest as backtest_flow

    settings = _run(
        load_settings, symbols=_symbols(symbols), timeframes=[timeframe] if timeframe else None
    )
    exchange = _run(normalize_exchange, exchange) if exchange else None
    summary = _run(
        backtest_flow,
        symbols=settings.symbols,
        timeframe=settings.timeframes[0],
        exchange=exchange,
        start=start,
        end=end,
        strategy=strategy,
        model=model,
        capital=capital,
        fee=fee,
        spread=spread,
        slippage=slippage,
        impact=impact,
        allow_in_sample=allow_in_sample,
        monte_carlo=monte_carlo,
        seed=seed,
    )
    _print_backtest(summary)


class ReportPeriod(StrEnum):
    daily = "daily"
    weekly = "weekly"
    monthly = "monthly"


@app.command()
def report(
    period: Annotated[
        ReportPeriod,
        typer.Option(
            help="daily: one UTC day; weekly: the 7 days ending with --day; monthly: the "
            "calendar month containing --day."
        ),
    ] = ReportPeriod.daily,
    day: Annotated[
        datetime | None,
        typer.Option(
            help="The report's day, YYYY-MM-DD (default: yesterday in UTC; for a simulated "
            "account, the last complete day of its simulated history).",
            formats=["%Y-%m-%d"],
        ),
    ] = None,
    send: Annotated[
        bool | None,
        typer.Option(
            "--send/--no-send",
            help="Send the report to Telegram (default: when CRYPTOBOT_TELEGRAM_BOT_TOKEN and "
            "CRYPTOBOT_TELEGRAM_CHAT_ID are set; --send fails if they are not).",
        ),
    ] = None,
) -> None:
    """Write an HTML report of the trading account and the pipeline: equity and P&L, open
    positions, trades, risk-limit use, model accuracy (live vs validation) and data quality.

    One self-contained file (charts included) in data/reports/, e.g.
    data/reports/daily-2025-12-31.html: open it in a browser. Examples: `cryptobot report`,
    `cryptobot report --period weekly --day 2025-12-28`, `cryptobot report --no-send`.
    """
    from cryptobot.reports import headline_text
    from flows.report import daily_report

    result = _run(
        daily_report,
        period=period.value,
        day=day.date().isoformat() if day else None,
        send=send,
    )
    console.print(headline_text(result), highlight=False, soft_wrap=True)
    sent = " (sent to Telegram)" if result["sent"] else ""
    console.print(f"[green]report:[/green] {result['path']}{sent}", highlight=False, soft_wrap=True)


@app.command()
def demo(
    days: Annotated[
        int | None, typer.Option(help="Days of simulated history (default: config, 730).")
    ] = None,
    signal: Annotated[
        float,
        typer.Option(
            help="Planted sentiment signal in [0, 1): corr(sentiment at bar t, return of bar "
            "t+1). 0 is the control run (nothing may be promoted)."
        ),
    ] = 0.4,
    seed: Annotated[int | None, typer.Option(help="Random seed (default: config, 42).")] = None,
    train: Annotated[
        bool,
        typer.Option(
            "--train/--no-train", help="Train and gate the models, then trade and report too."
        ),
    ] = True,
    replay_days: Annotated[
        float,
        typer.Option(help="Days of hourly trading replayed bar by bar after training (0: none)."),
    ] = 30,
) -> None:
    """Run the whole pipeline offline on the simulated market (labelled SIMULATED everywhere):
    ingest -> validate -> features -> train (walk-forward, MLflow, promotion gate) -> replay the
    hourly paper-trading flow over the last 30 days bar by bar -> daily report; then print where
    to look. Seeded: a second run gives the same numbers and stores nothing twice."""
    from flows.demo import demo as demo_flow

    settings = load_settings()
    result = _run(
        demo_flow, days=days, signal=signal, seed=seed, train=train, replay_days=replay_days
    )
    for summary in result["train"]:
        _print_training(summary)
    if result.get("backtest"):
        _print_backtest(result["backtest"])
    if result.get("trade"):
        _print_replay(result["trade"]["replay"], settings.trading.account_currency)
    report = result.get("report") or {}
    app_dir = Path(__file__).resolve().parents[1] / "app"
    console.print(
        "\n[bold]Where to look[/bold]\n"
        f"  warehouse    {settings.warehouse}\n"
        + (f"  report       {report['path']}\n" if report.get("path") else "")
        + "  status       .venv/bin/cryptobot status\n"
        '  features     .venv/bin/cryptobot sql "select * from marts.fct_features limit 5"\n'
        "  models       .venv/bin/cryptobot models\n"
        "  backtests    .venv/bin/cryptobot backtest (again: nothing new is stored), the "
        "Streamlit page Backtests\n"
        '  trades       .venv/bin/cryptobot sql "select * from trades order by ts desc"\n'
        f"  Streamlit    .venv/bin/streamlit run {app_dir / 'main.py'}, then open "
        "http://localhost:8501\n"
        f"  MLflow UI    {_mlflow_ui_hint(settings)}\n"
        "  Prefect UI   .venv/bin/prefect server start, then open http://127.0.0.1:4200\n"
        "               (export PREFECT_API_URL=http://127.0.0.1:4200/api so runs are kept there)",
        soft_wrap=True,
        highlight=False,
    )


# command modules: each registers its commands on `app` when imported
from cryptobot.commands import account as _account  # noqa: E402, F401
from cryptobot.commands import api as _api  # noqa: E402, F401
from cryptobot.commands import keys as _keys  # noqa: E402, F401
from cryptobot.commands import lookahead as _lookahead  # noqa: E402, F401
from cryptobot.commands import telegram as _telegram  # noqa: E402, F401

if __name__ == "__main__":  # pragma: no cover
    # `python -m cryptobot.cli`: run the app of the imported module `cryptobot.cli`, the one the
    # command modules above registered on (this __main__ copy has its own, without them)
    from cryptobot.cli import app as _app

    _app()
