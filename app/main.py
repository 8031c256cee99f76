"""The analytics app's server: ``streamlit run app/main.py`` (read-only; see README "The
Streamlit app").

Streamlit runs a page's script in the server process, so the first page anyone opens pays for
the libraries the pages import (pandas, DuckDB and the app's own modules: about 0.5 s on two
cores, a quarter of the 2 s page budget). Served as an ``st.App``, this imports them once
while the server starts, before it answers; every page then opens with only its own queries
and drawing to do. The pages themselves are ``streamlit_app.py`` (``st.navigation``) and
``views/``; ``streamlit run app/streamlit_app.py`` serves the same app without the warm-up.
"""

from __future__ import annotations

import importlib
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import streamlit as st
from streamlit.logger import get_logger

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # `streamlit run` puts only app/ on the path
    sys.path.insert(0, str(ROOT))

#: what the pages import (directly or through the app's modules), imported at server start
WARM_MODULES = (
    "pandas",
    "numpy",
    "duckdb",
    "app.data",
    "app.charts",
    "app.mlflow_store",
    "app.risk",
    "app.ui",
    "app.navigation",
    "cryptobot.backtest.display",
)

logger = get_logger("cryptobot.app")  # Streamlit's handler and level


def warm_up(modules: tuple[str, ...] = WARM_MODULES) -> float:
    """Pay now what the first page would otherwise pay once per process; returns the seconds.

    That is importing ``modules``, DuckDB's first connection (its runtime starts: ~10 ms) and
    Streamlit's check, on the first element a script draws, whether it runs in a REPL (it
    walks the stack reading every frame's source: ~90 ms).
    """
    started = time.perf_counter()
    for name in modules:
        importlib.import_module(name)
    import duckdb

    with duckdb.connect(":memory:") as con:
        con.execute("select 1").fetchall()
    from streamlit import delta_generator

    repl_check = getattr(delta_generator, "_maybe_print_use_warning", None)
    if repl_check is not None:  # a private function: skipped if Streamlit renames it
        repl_check()
    return time.perf_counter() - started


@asynccontextmanager
async def lifespan(_app: st.App) -> AsyncIterator[None]:
    # runs after Streamlit's runtime has started (so the app's caches bind to it) and before
    # the server accepts a request
    seconds = warm_up()
    logger.info("cryptobot app: page libraries imported in %.2f s", seconds)
    yield


streamlit_app = st.App("streamlit_app.py", lifespan=lifespan)
