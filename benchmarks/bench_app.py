"""Time each page of the Streamlit app: ``python benchmarks/bench_app.py [--warehouse PATH]``.

The goal (issue 4): every page opens in under 2 s on the demo warehouse (``make demo``).
Per page, each figure the median of ``--repeat`` runs:

* **script**: the page's script run by ``streamlit.testing.v1.AppTest`` in a fresh Python
  process prepared as ``streamlit run app/main.py`` prepares its server (Streamlit imported,
  AppTest's component scan done, and ``app/main.py``'s ``warm_up``: the pages' libraries
  imported; its seconds are printed as *warm-up*): *cold* is the first run (empty caches,
  every query), *warm* the second (cached results).
* **browser** (when Debian's ``chromium`` is installed): ``streamlit run app/main.py`` served
  fresh, the page looked at in headless Chromium until its script has finished and every chart
  has drawn (``tests/app_browser.py``). *first open*: the page's URL as the first request to a
  freshly started server, as soon as it answers (the frontend's first load, Vega's first
  chart, the page's queries); *click, cold*: the running app showing another page, the
  page's sidebar link clicked (its queries not cached yet: what a user waits for); *click,
  warm*: away and back (cached). *server start*: from launch until ``/_stcore/health``
  answers (the warm-up included).

The goal is checked on *script cold*, *first open* and *click, cold*.

The warehouse (default ``data/warehouse.duckdb``) and the MLflow store beside it
(``--data-dir``, default the warehouse's folder) are copied to a temporary folder first and
migrated there, so nothing is written to them and a one-off migration is not timed
(``--in-place`` reads them where they are). The Backtests page is timed on ``--backtests``
stored backtests (default 12): when the copy holds fewer, made-up two-year hourly ones (17,520
equity marks each, a buy-and-hold leg, a fill every 12 bars at the stored opens of the longest
series; ``tests/app_warehouse.py``'s ``stored_backtest``) are added to the copy first.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # `python benchmarks/bench_app.py` puts only benchmarks/ first
    sys.path.insert(0, str(ROOT))

from app.navigation import PAGES  # noqa: E402
from cryptobot.warehouse.db import write_connection  # noqa: E402

GOAL = 2.0
CHILD = """
import json, os, sys, time
sys.path.insert(0, {root!r})
import streamlit  # noqa: F401 - imported before timing, as in a running server
from streamlit.testing.v1 import AppTest
# AppTest scans every installed distribution for components on its first run (~0.5 s); a
# server does that once at start, so it is done here before timing, on an empty script
warm = AppTest.from_string("pass").run()
from app.main import warm_up  # what the server does before it answers
warmed = warm_up()
at = AppTest.from_file({page!r}, default_timeout=120)
at._bidi_component_manager = warm._bidi_component_manager
times = []
for _ in range(2):
    started = time.perf_counter()
    at.run()
    times.append(time.perf_counter() - started)
print(json.dumps({{
    "cold": times[0], "warm": times[1], "warm_up": warmed,
    "exceptions": [e.value for e in at.exception],
    "errors": [e.value for e in at.error],
    "title": [t.value for t in at.title],
}}))
"""


def prepare(warehouse: Path, data_dir: Path, in_place: bool, tmp: Path) -> tuple[Path, Path]:
    """The warehouse and data dir to time: copies under ``tmp`` unless ``in_place``."""
    if in_place:
        return warehouse, data_dir
    copy_dir = tmp / "data"
    copy_dir.mkdir()
    for source in (warehouse, warehouse.with_name(warehouse.name + ".wal")):
        if source.exists():
            shutil.copy2(source, copy_dir / source.name)
    mlflow_db = data_dir / "mlflow.db"
    if mlflow_db.exists():
        shutil.copy2(mlflow_db, copy_dir / "mlflow.db")
    copied = copy_dir / warehouse.name
    with write_connection(copied):  # migrate the copy now, not inside a timed run
        pass
    return copied, copy_dir


def add_backtests(warehouse: Path, data_dir: Path, wanted: int) -> tuple[int, int]:
    """Made-up two-year hourly backtests until ``warehouse`` holds ``wanted`` (main runs);
    returns (held before, added)."""
    from cryptobot.config import Settings
    from cryptobot.warehouse.db import read_connection
    from tests.app_warehouse import LONG_BARS, stored_backtest

    with read_connection(warehouse) as con:
        (held,) = con.execute(
            "select count(*) from backtest_runs where role = 'strategy'"
        ).fetchone()
        longest = con.execute(
            """
            select exchange, symbol, timeframe from market_data
            group by all order by count(*) desc, symbol limit 1
            """
        ).fetchall()
        if held >= wanted or not longest:
            return held, 0
        exchange, symbol, timeframe = longest[0]
        opens = con.execute(
            "select ts, open from market_data where exchange = ? and symbol = ? "
            "and timeframe = ? order by ts",
            [exchange, symbol, timeframe],
        ).df()
    settings = Settings(warehouse=warehouse, data_dir=data_dir)
    prices = {symbol: opens.set_index("ts")["open"]}
    for i in range(wanted - held):
        stored_backtest(
            settings,
            symbols=(symbol,),
            end=opens["ts"].iloc[-1],
            bars=LONG_BARS,
            capital=10_000.0 * (1 + i % 3),
            strategy=("long_flat", "sma_cross")[i % 2],
            sharpe=round(0.1 * (i + 1), 2),
            total_return=0.01 * (i - 4),
            prices=prices,
            exchange=exchange,
            timeframe=timeframe,
        )
    return held, wanted - held


def script_times(env: dict[str, str], page_path: str) -> dict:
    code = CHILD.format(root=str(ROOT), page=str(ROOT / "app" / page_path))
    result = subprocess.run(
        [sys.executable, "-c", code],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        cwd=ROOT,
    )
    lines = [line for line in result.stdout.splitlines() if line.startswith("{")]
    if result.returncode != 0 or not lines:
        raise RuntimeError(f"{page_path}: the page run failed:\n{result.stderr[-3000:]}")
    return json.loads(lines[-1])


async def browser_times(chromium: str, env: dict[str, str], tmp: Path, repeat: int) -> dict:
    """Per page, median seconds until drawn: ``first`` (the first request to a fresh server:
    frontend load, the app's imports, empty caches), ``click`` (a fresh server showing another
    page, then the sidebar link clicked: the page's queries uncached) and ``again`` (away and
    back by the sidebar: cached)."""
    from tests.app_browser import chromium_page, streamlit_server

    keys = ("first", "click", "again")
    times = {p.title: {k: [] for k in keys} for p in PAGES}
    starts: list[float] = []
    states: dict[str, set[str]] = {p.title: set() for p in PAGES}
    async with chromium_page(chromium, tmp / "profile") as page:
        for run in range(repeat):
            for spec in PAGES:
                other = PAGES[1] if spec is PAGES[0] else PAGES[0]
                launched = time.monotonic()
                with streamlit_server(env, tmp / f"first-{run}-{spec.url_path}.log") as base:
                    starts.append(time.monotonic() - launched)
                    first = await page.open(base + spec.url, title=spec.title)
                with streamlit_server(env, tmp / f"click-{run}-{spec.url_path}.log") as base:
                    await page.open(base + other.url, title=other.title)
                    click = await page.click(spec.title)
                    await page.click(other.title)
                    again = await page.click(spec.title)
                for key, result in zip(keys, (first, click, again), strict=True):
                    times[spec.title][key].append(result["seconds"])
                    states[spec.title].add(result["state"])
                    if result["exceptions"]:
                        states[spec.title].add("EXCEPTION")
    return {
        title: {k: statistics.median(v) for k, v in value.items()}
        | {"first max": max(value["first"]), "state": ",".join(sorted(states[title]))}
        for title, value in times.items()
    } | {"server start": {"median": statistics.median(starts), "max": max(starts)}}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--warehouse", type=Path, default=ROOT / "data" / "warehouse.duckdb")
    parser.add_argument("--data-dir", type=Path, default=None, help="default: the warehouse's")
    parser.add_argument("--repeat", type=int, default=2, help="runs per page (median)")
    parser.add_argument("--in-place", action="store_true", help="do not copy the warehouse")
    parser.add_argument("--no-browser", action="store_true", help="script timings only")
    parser.add_argument(
        "--backtests",
        type=int,
        default=12,
        help="backtests the Backtests page is timed on: made-up ones fill the copy up to this",
    )
    args = parser.parse_args()
    warehouse = args.warehouse.resolve()
    data_dir = (args.data_dir or warehouse.parent).resolve()
    if not warehouse.is_file():
        print(f"no warehouse at {warehouse}: run `make demo` first (or pass --warehouse)")
        return 0
    chromium = None if args.no_browser else shutil.which("chromium")
    with tempfile.TemporaryDirectory(prefix="bench-app-") as tmp_name:
        tmp = Path(tmp_name)
        warehouse, data_dir = prepare(warehouse, data_dir, args.in_place, tmp)
        if not args.in_place:
            held, added = add_backtests(warehouse, data_dir, args.backtests)
            print(
                f"backtests: {held} stored"
                + (f", {added} made-up two-year hourly ones added to the copy" if added else "")
            )
        env = {k: v for k, v in os.environ.items() if not k.startswith("CRYPTOBOT_")} | {
            "CRYPTOBOT_WAREHOUSE": str(warehouse),
            "CRYPTOBOT_DATA_DIR": str(data_dir),
        }
        size = warehouse.stat().st_size / 1e6
        print(f"warehouse {warehouse} ({size:.0f} MB), MLflow store {data_dir / 'mlflow.db'}")
        print(f"median of {args.repeat} run(s) per page")
        script: dict[str, dict] = {}
        for spec in PAGES:
            runs = [script_times(env, spec.path) for _ in range(args.repeat)]
            problems = [p for run in runs for p in run["exceptions"] + run["errors"]]
            script[spec.title] = {
                "cold": statistics.median(r["cold"] for r in runs),
                "warm": statistics.median(r["warm"] for r in runs),
                "warm_up": statistics.median(r["warm_up"] for r in runs),
                "problems": problems,
            }
        browser = asyncio.run(browser_times(chromium, env, tmp, args.repeat)) if chromium else {}
    header = f"{'page':<14}{'script cold':>12}{'script warm':>12}"
    if browser:
        header += f"{'first open':>12}{'(max)':>8}{'click, cold':>13}{'click, warm':>13}"
    print(header)
    slow = []
    for spec in PAGES:
        s = script[spec.title]
        line = f"{spec.title:<14}{s['cold']:>10.2f} s{s['warm']:>10.2f} s"
        worst = s["cold"]
        if browser:
            b = browser[spec.title]
            line += (
                f"{b['first']:>10.2f} s{b['first max']:>6.2f} s"
                f"{b['click']:>11.2f} s{b['again']:>11.2f} s"
            )
            worst = max(worst, b["first"], b["click"])
            if b["state"] != "ready":
                line += f"  ({b['state']})"
        if s["problems"]:
            line += f"  PROBLEMS: {s['problems']}"
        print(line)
        if worst >= GOAL:
            slow.append(spec.title)
    warm_up = statistics.median(s["warm_up"] for s in script.values())
    print(f"warm-up (app/main.py, once per server process, before it answers): {warm_up:.2f} s")
    if browser:
        start = browser["server start"]
        print(
            f"server start, launch to /_stcore/health answering: {start['median']:.2f} s "
            f"median, {start['max']:.2f} s max"
        )
    else:
        print("(no browser timings: " + ("--no-browser" if args.no_browser else
              "`chromium` not installed: apt-get install chromium") + ")")  # fmt: skip
    print(
        f"goal < {GOAL:.0f} s per page (script cold"
        + (", first open and click, cold; medians" if browser else "")
        + "): "
        + ("met by every page" if not slow else f"NOT met by {', '.join(slow)}")
    )
    if browser:
        print(
            "first open = the page's URL as the first request to a freshly started server "
            "(the frontend's first load, Vega's first chart, the page's queries); click = "
            "opening the page from the sidebar of the running app, cold = its queries not "
            "cached yet."
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
