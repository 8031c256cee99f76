"""The analytics app's script, run for every session and rerun (read-only; see README "The
Streamlit app"). Served by ``streamlit run app/main.py``, which imports the app's libraries once
at server start; ``streamlit run app/streamlit_app.py`` serves it too, paying those imports on
the first page instead.

Seven pages, declared here with ``st.navigation``; each is one module under ``app/views/``. The
warehouse and MLflow store are the ones the settings name (``CRYPTOBOT_WAREHOUSE``,
``CRYPTOBOT_DATA_DIR``, ``cryptobot.toml``...), read through short read-only connections.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # `streamlit run` puts only app/ on the path
    sys.path.insert(0, str(ROOT))

import duckdb  # noqa: E402
import streamlit as st  # noqa: E402

from app import data, ui  # noqa: E402
from app.navigation import PAGES  # noqa: E402
from cryptobot.errors import CryptobotError  # noqa: E402


def _sidebar() -> None:
    settings = ui.settings()
    with st.sidebar:
        st.caption(
            f"**{settings.trading.mode}** trading · source **{settings.source}** · "
            f"{len(settings.symbols)} symbols · {', '.join(settings.timeframes)}"
        )
        st.caption(f"Warehouse `{settings.warehouse}`")
        if st.button("Refresh data", icon=":material/refresh:", key="refresh"):
            st.cache_data.clear()
        st.caption(
            "Read-only: every query opens and closes its own connection, so flows can write "
            f"meanwhile. Cached results follow each commit (kept {data.CACHE_TTL // 60} min)."
        )


def main() -> None:
    st.set_page_config(page_title="cryptobot", page_icon=":material/monitoring:", layout="wide")
    current = st.navigation(
        [
            st.Page(
                page.path,
                title=page.title,
                url_path=page.url_path,
                icon=page.icon,
                default=index == 0,
            )
            for index, page in enumerate(PAGES)
        ]
    )
    _sidebar()
    try:
        current.run()
    except CryptobotError as exc:  # a busy or unreadable warehouse: say what to do, no trace
        st.error(str(exc), icon=":material/error:")
    except duckdb.Error as exc:
        st.error(
            f"A warehouse query failed: {exc}. If a flow is migrating or rebuilding the "
            "warehouse, wait for it and press Refresh data.",
            icon=":material/error:",
        )


main()
