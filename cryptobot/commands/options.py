"""Command-line options shared by several commands (one wording, one place)."""

from __future__ import annotations

from typing import Annotated

import typer

Symbols = Annotated[
    str | None, typer.Option(help="Comma-separated, e.g. BTC/USDT,ETH/USDT (default: config).")
]
Timeframe = Annotated[str | None, typer.Option(help="Bar length (default: config).")]
SeriesExchange = Annotated[
    str | None,
    typer.Option(help="Series' exchange (default: simulator for the simulated source)."),
]
StrategyName = Annotated[
    str | None,
    typer.Option(
        help="long_flat, long_short (on the model's calls), buy_and_hold or sma_cross "
        "(prices alone); default: trading.strategy."
    ),
]
ModelSpec = Annotated[
    str | None,
    typer.Option(
        metavar="NAME[@ALIAS|/VERSION]",
        help="Registered model(s), comma-separated, e.g. simulator.BTC-USDT.1h.h1/3, or "
        "@challenger for every symbol (default: each symbol's champion).",
    ),
]
