"""The app's pages: (file under app/, title, url path, icon). The first is the default page,
served at ``/`` (Streamlit answers its own url path with "Page not found"). Kept apart from
``main.py`` so tests can read it without running the app."""

from __future__ import annotations

from typing import NamedTuple


class PageSpec(NamedTuple):
    path: str
    title: str
    url_path: str
    icon: str

    @property
    def url(self) -> str:
        """The page's path on the server: ``/`` for the default page, else ``/<url_path>``."""
        return "/" if self is PAGES[0] else f"/{self.url_path}"


PAGES = (
    PageSpec("views/overview.py", "Overview", "overview", ":material/monitoring:"),
    PageSpec("views/market.py", "Market", "market", ":material/candlestick_chart:"),
    PageSpec("views/ml_models.py", "Models", "models", ":material/model_training:"),
    PageSpec("views/trades.py", "Trades", "trades", ":material/receipt_long:"),
    PageSpec("views/backtests.py", "Backtests", "backtests", ":material/history:"),
    PageSpec("views/risk.py", "Risk", "risk", ":material/shield:"),
    PageSpec("views/data_quality.py", "Data quality", "data-quality", ":material/fact_check:"),
)
