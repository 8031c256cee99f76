"""`cryptobot check-lookahead`: prove that features, predictions and decisions never look ahead.

The work is in ``models.lookahead`` (predictions, decisions) on top of ``cryptobot.lookahead``
(features); this module parses the options and prints the result. It only reads the warehouse
and MLflow (the recomputation runs in a scratch warehouse), so no Prefect flow is involved.
"""

from __future__ import annotations

import math
from collections import Counter
from typing import Annotated

import typer

from cryptobot.cli import _fail, _run, _symbols, app, console, err_console
from cryptobot.commands.options import ModelSpec, SeriesExchange, StrategyName, Symbols, Timeframe
from cryptobot.config import load_settings, normalize_exchange
from cryptobot.errors import LookaheadError
from cryptobot.lookahead import MIN_BARS, RELATIVE_TOLERANCE

#: difference lines printed before the rest is summarised per column
MAX_LINES = 200


@app.command("check-lookahead")
def check_lookahead(
    symbols: Symbols = None,
    timeframe: Timeframe = None,
    exchange: SeriesExchange = None,
    bars: Annotated[
        int,
        typer.Option(
            metavar="N",
            help=f"Bars checked per symbol, evenly spread over its history (at least {MIN_BARS}).",
        ),
    ] = MIN_BARS,
    model: ModelSpec = None,
    strategy: StrategyName = None,
) -> None:
    """Check that no feature, prediction or trading decision uses data from after its bar.

    For N bars of each symbol (default 50, spread over its history past the indicators'
    warm-up), everything is computed twice: once in the full run (the stored `fct_features`,
    the model predicting the whole series at once and the strategy over the whole history, as
    a backtest does), and once from only the data known at that bar's close (the candles and
    sentiment up to then, rebuilt by the same dbt models in a scratch copy, then predicted and
    decided bar by bar, as the trading flow does). Every feature column (the forward labels
    excepted), the model's pred_return and prob_up, and the strategy's target must be equal
    (floats within 1e-9 relative); any difference is listed with the column, the bar and both
    values.

    Exit code 0: no lookahead; 11: a lookahead was found. The warehouse is only read. Takes
    about 10 s for 50 bars of 2 symbols. Examples: `cryptobot check-lookahead`,
    `cryptobot check-lookahead --symbols BTC/USDT --bars 200`,
    `cryptobot check-lookahead --exchange binance --strategy sma_cross`.
    """
    from cryptobot.render import SIMULATED_LABEL, rows_table
    from models.lookahead import check_lookahead as run_check

    settings = _run(
        load_settings, symbols=_symbols(symbols), timeframes=[timeframe] if timeframe else None
    )
    exchange = _run(normalize_exchange, exchange) if exchange else None

    def progress(message: str) -> None:
        err_console.print(message, style="dim", highlight=False, soft_wrap=True)

    report = _run(
        run_check,
        settings,
        symbols=settings.symbols,
        timeframe=settings.timeframes[0],
        exchange=exchange,
        bars=bars,
        model=model,
        strategy=strategy,
        log=progress,
    )
    simulated = any(c.is_simulated for c in report.checks)
    where = sorted({(c.series.exchange, c.series.timeframe) for c in report.checks})
    console.print(
        f"[bold]lookahead check[/bold] of {' and '.join(f'{e} {t}' for e, t in where)}, "
        f"strategy {report.strategy}: each bar recomputed from the data known at its close; "
        f"{len(report.columns)} feature columns compared (labels excluded), tolerance "
        f"{RELATIVE_TOLERANCE:g} relative"
        + (f"  [bold yellow]{SIMULATED_LABEL}[/bold yellow]" if simulated else ""),
        highlight=False,
        soft_wrap=True,
    )
    console.print(
        rows_table(
            [
                "symbol",
                "bars checked",
                "features equal",
                "predictions equal",
                "decisions equal",
                "max difference",
                "model",
            ],
            [
                [
                    c.series.symbol
                    + ("" if len(where) == 1 else f" ({c.series.exchange} {c.series.timeframe})"),
                    c.bars,
                    c.features.describe(),
                    c.predictions.describe(),
                    c.decisions.describe(),
                    _difference(c.max_difference),
                    c.model or "none",
                ]
                for c in report.checks
            ],
            keep=(0, 6),
        )
    )
    for check in report.checks:
        for note in check.notes:
            console.print(f"  note: {check.series.symbol}: {note}", highlight=False)
    if report.clean:
        console.print(
            f"[green]no lookahead:[/green] every checked feature, prediction and decision equals "
            f"the full run's ({report.seconds:.1f} s)",
            highlight=False,
        )
        return

    differences = report.differences
    console.print(
        f"[bold red]{len(differences)} difference(s)[/bold red] (symbol, bar open UTC, stage, "
        "column: the full run's value, the value from the data known at the bar's close):",
        highlight=False,
    )
    for difference in differences[:MAX_LINES]:
        console.print(f"  {difference.describe()}", highlight=False, soft_wrap=True)
    if len(differences) > MAX_LINES:
        console.print(f"  ... and {len(differences) - MAX_LINES} more", highlight=False)
    columns = Counter((d.stage, d.column) for d in differences)
    named = ", ".join(f"{stage} {column} ({n} bars)" for (stage, column), n in columns.items())
    raise _fail(
        LookaheadError(
            f"lookahead found in {named}: at those bars the full run's value differs from the "
            "one computed from only the data known at the bar's close, so the full run used "
            "later information. A feature: look for a window that reaches forward (lead(), "
            "'following', a join without available_at <= the bar's close) in dbt_project/; a "
            "prediction: the model must answer each row from that row and earlier ones; a "
            "decision: the strategy must decide each row from rows up to it. If the feature "
            "models changed since the warehouse was built, rebuild first (`cryptobot features "
            "--full-refresh`)"
        )
    )


def _difference(value: float) -> str:
    return "none" if value == 0 else ("a value vs NULL" if math.isinf(value) else f"{value:.1e}")
