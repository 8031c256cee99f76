"""Pieces every page uses: settings, the warehouse, the SIMULATED banner, empty states, numbers."""

from __future__ import annotations

import html
import math
from typing import Any

import pandas as pd
import streamlit as st

from app import data
from cryptobot.config import Settings, load_settings
from cryptobot.errors import ConfigError
from cryptobot.render import money_text, price_text

#: the SIMULATED banner's background (amber); the browser test looks for this colour
BANNER_RGB = (245, 158, 11)
BANNER_COLOR = "#{:02X}{:02X}{:02X}".format(*BANNER_RGB)
BANNER_TEXT = "SIMULATED"


def settings() -> Settings:
    """The settings (config file and ``CRYPTOBOT_*``), or the configuration error and stop."""
    try:
        return load_settings()
    except ConfigError as exc:
        st.error(str(exc), icon=":material/error:")
        st.stop()
        raise  # unreachable: st.stop() raises


def warehouse(settings: Settings) -> data.Warehouse:
    """The warehouse; when there is none yet, say what to run and stop the page."""
    wh = data.warehouse(settings)
    if not wh.exists:
        empty(
            f"No warehouse at `{wh.path}` yet",
            "cryptobot ingest",
            extra="(or `make demo`; or point `CRYPTOBOT_WAREHOUSE` at an existing warehouse)",
        )
        st.stop()
    return wh


def simulated_banner(sentence: str) -> None:
    """The rule-8 label: a loud banner on every page that shows simulated data. ``sentence``
    says what on the page is simulated."""
    st.markdown(
        f'<div class="cryptobot-simulated" style="background:{BANNER_COLOR};color:#1F1300;'
        "padding:0.55rem 1rem;border-radius:0.5rem;font-weight:600;margin:0 0 0.75rem 0;"
        f'letter-spacing:0.01em"><b>{BANNER_TEXT}</b> &mdash; {html.escape(sentence)} The data '
        "comes from the built-in market simulator, not a real exchange: no real market or money "
        "is involved.</div>",
        unsafe_allow_html=True,
    )


def empty(message: str, command: str | None = None, *, extra: str = "") -> None:
    """An explicit empty state: what is missing and the command that fills it."""
    text = f"{message}: run `{command}`" if command else message
    st.info(f"{text} {extra}".strip(), icon=":material/info:")


def pick_account(wh: data.Warehouse, settings: Settings, *, key: str) -> data.Account | None:
    """The account (name and mode) to show: the configured one (``trading.account`` in
    ``trading.mode``) when it has rows, else the first; a picker when there are several. None
    when no account has equity rows. The page always says which account it shows."""
    found = data.accounts(wh)
    if found.empty:
        return None
    accounts = [
        data.Account(str(a), str(m)) for a, m in zip(found["account"], found["mode"], strict=True)
    ]
    configured = data.Account(settings.trading.account, settings.trading.mode)
    default = configured if configured in accounts else accounts[0]
    if len(accounts) == 1:
        chosen = default
    else:
        labels = [str(a) for a in accounts]
        label = st.segmented_control(
            "Account", labels, default=str(default), key=key, selection_mode="single"
        )
        chosen = accounts[labels.index(label)] if label in labels else default
    st.caption(f"Account **{chosen.name}** ({chosen.mode})")
    return chosen


# -- numbers -----------------------------------------------------------------------------------


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NaT


def money(value: Any, *, signed: bool = False) -> str:
    """Equity, P&L, fees: two decimals from 1 up, four significant digits below."""
    return "–" if _missing(value) else money_text(value, signed=signed)


def price(value: Any) -> str:
    """A price in its quote currency, six significant digits (0.0000085, not 0.0000)."""
    return "–" if _missing(value) else price_text(value)


#: Streamlit column format for prices and amounts: the number as stored (a printf format would
#: cut a BTC-quoted price such as 0.0000085 to 0.0000)
PRICE_COLUMN = "plain"


def pct(value: Any, digits: int = 2, *, signed: bool = False) -> str:
    if _missing(value):
        return "–"
    return f"{value:+.{digits}%}" if signed else f"{value:.{digits}%}"


def number(value: Any, fmt: str = ",.4g") -> str:
    return "–" if _missing(value) else format(value, fmt)


def when(value: Any) -> str:
    """A naive UTC timestamp as text (``2026-01-01 00:00 UTC``)."""
    if _missing(value) or pd.isna(value):
        return "–"
    return f"{pd.Timestamp(value):%Y-%m-%d %H:%M} UTC"


def now_utc() -> pd.Timestamp:
    """Now as a naive UTC timestamp (the warehouse convention)."""
    return pd.Timestamp.now(tz="UTC").tz_localize(None)


def age(delta: pd.Timedelta) -> str:
    """A duration as a short text: ``45 min``, ``3.2 h``, ``12 d``."""
    seconds = delta.total_seconds()
    sign = "-" if seconds < 0 else ""
    seconds = abs(seconds)
    if seconds < 3600:
        return f"{sign}{seconds / 60:.0f} min"
    if seconds < 48 * 3600:
        return f"{sign}{seconds / 3600:.1f} h"
    return f"{sign}{seconds / 86400:.0f} d"


def stat(container: Any, label: str, value: str, note: str | None = None, **kwargs: Any) -> None:
    """A metric whose second line is a neutral note (no arrow, no colour), not a change."""
    container.metric(label, value, note, delta_color="off", delta_arrow="off", **kwargs)
