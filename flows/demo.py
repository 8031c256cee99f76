"""Flow `demo`: the whole pipeline offline on the simulated market, then where to look."""

from __future__ import annotations

from prefect import flow

from cryptobot.config import load_settings
from flows._common import progress
from flows.features import features
from flows.ingest import ingest
from flows.status import status
from flows.validate import validate


@flow(name="demo")
def demo(days: int = 730, signal: float = 0.1, seed: int = 42) -> dict:
    """Simulate `days` of market data (SIMULATED, planted sentiment signal `signal`), validate it,
    build features, and log the warehouse status."""
    settings = load_settings()
    log = progress()
    log(
        f"demo: simulated market, {len(settings.symbols)} symbols, {days} days, seed {seed}, "
        f"planted sentiment signal {signal} (labelled SIMULATED everywhere)"
    )
    ingested = ingest(source="simulator", days=days, signal=signal, seed=seed)
    validated = validate()
    built = features()
    status()
    return {"ingest": ingested, "validate": validated, "features": built}
