"""The Streamlit app served for real and looked at in headless Chromium, page by page.

``streamlit run app/main.py`` (the ``st.App`` that imports the pages' libraries at start, then
serves ``app/streamlit_app.py``) starts on a free port against the shared app warehouse
(``tests/app_warehouse.py``); once ``/_stcore/health`` answers, one headless Chromium (Debian's
``chromium``) opens every page at its URL and takes a 1400x1000 screenshot, which must not be
blank: enough distinct colours and drawn pixels, and the SIMULATED banner's amber among them.
The page itself must show its title, the banner, no exception and no "Page not found" dialog.
Chromium is driven over the DevTools protocol (see ``tests/app_browser.py`` for why not
``--screenshot``). The Backtests page is opened once more on one run by its URL (``?run=``, the
daily report's link). The screenshots stay in the test's tmp directory (printed with ``-s``).
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from app.navigation import PAGES
from app.ui import BANNER_RGB
from tests.app_browser import (
    INSTALL_HINT,
    WINDOW,
    chromium_page,
    chromium_path,
    image_stats,
    streamlit_server,
)
from tests.app_warehouse import app_warehouse

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def chromium() -> str:
    path = chromium_path()
    if path is None:
        pytest.fail(
            "headless Chromium is needed for the app's browser test and `chromium` is not on "
            f"PATH: {INSTALL_HINT}; `make test` installs it"
        )
    return path


#: a page opened on one record by its URL, as the daily report links it: (name, page, query)
LINKED = ("backtests-run", "Backtests", "run")


async def _visit(chromium: str, base: str, out: Path, run_id: str) -> dict[str, dict]:
    """Each page by its URL (screenshot taken), the Backtests page on one run (``?run=``, as
    the daily report links it), then one page by its sidebar link."""
    facts = {}
    async with chromium_page(chromium, out / "profile") as page:
        for spec in PAGES:
            facts[spec.title] = await page.open(base + spec.url, title=spec.title)
            await page.screenshot(out / f"{spec.url_path}.png")
        name, title, parameter = LINKED
        facts[name] = await page.open(f"{base}/backtests?{parameter}={run_id}", title=title)
        facts[name]["text"] = await page.evaluate("document.body.innerText")
        await page.screenshot(out / f"{name}.png")
        facts["click"] = await page.click(PAGES[1].title)
    return facts


def test_every_page_renders_in_headless_chromium(chromium, tmp_path_factory, tmp_path):
    built = app_warehouse(tmp_path_factory)
    log = tmp_path / "server.log"
    in_sample = built.backtests["in_sample"][0]
    with streamlit_server(built.env, log) as base:
        facts = asyncio.run(_visit(chromium, base, tmp_path, in_sample))
    problems = []
    if "page libraries imported" not in log.read_text():
        problems.append(
            "the server did not warm up (served without app/main.py's st.App?):\n" + log.read_text()
        )
    for spec in PAGES:
        fact = facts[spec.title]
        png = tmp_path / f"{spec.url_path}.png"
        stats = image_stats(png, BANNER_RGB)
        print(f"{spec.title:<13} {base}{spec.url} {fact} {stats} {png}")
        if fact["state"] != "ready":
            problems.append(f"{spec.title}: not drawn in time ({fact['state']})")
        if fact["title"] != spec.title:
            problems.append(f"{spec.title}: the page's title is {fact['title']!r}")
        if fact["dialogs"]:
            problems.append(f"{spec.title}: a dialog covers the page: {fact['dialogs']}")
        if fact["exceptions"]:
            problems.append(f"{spec.title}: Streamlit shows {fact['exceptions']} exception(s)")
        if not fact["banners"]:
            problems.append(f"{spec.title}: no SIMULATED banner in the page")
        if tuple(stats["size"]) != WINDOW:
            problems.append(f"{spec.title}: the screenshot is {stats['size']}, not {WINDOW}")
        if stats["colours"] < 40 or stats["drawn"] < 0.03:
            problems.append(f"{spec.title}: the screenshot looks blank: {stats} ({png})")
        if stats["banner"] < 5_000:
            problems.append(f"{spec.title}: no banner amber in the screenshot: {stats} ({png})")
    linked = facts[LINKED[0]]
    png = tmp_path / f"{LINKED[0]}.png"
    print(f"{'?run=':<13} {linked | {'text': '...'}} {image_stats(png, BANNER_RGB)} {png}")
    if linked["state"] != "ready" or linked["exceptions"] or linked["charts"] < 2:
        problems.append(f"the Backtests page on ?run={in_sample} did not draw: {linked}")
    elif f"long_flat {in_sample[:8]} IN-SAMPLE" not in linked["text"]:
        problems.append(f"the Backtests page on ?run={in_sample} did not open on that run")
    click = facts["click"]
    if click["state"] != "ready" or click["title"] != PAGES[1].title or click["exceptions"]:
        problems.append(f"the sidebar link to {PAGES[1].title} did not open it: {click}")
    assert not problems, "\n".join(problems)
    # the charts drew (canvas or svg inside every Vega embed) where the pages have them
    assert all(
        facts[title]["charts"] >= 2
        for title in ("Overview", "Market", "Models", "Backtests", "Risk")
    )
