"""The Streamlit app served for real, and headless Chromium looking at it (the browser test and
``benchmarks/bench_app.py``).

Chromium is driven over the DevTools protocol rather than with ``--screenshot``: a Streamlit page
arrives over a websocket after the HTML has loaded, and ``--screenshot`` (even with
``--virtual-time-budget``) fires before it does, capturing the loading skeleton. Over DevTools
the page is captured once it reports its script finished (``data-test-script-state``) and every
chart has drawn.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator, Mapping
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MAIN = ROOT / "app" / "main.py"
WINDOW = (1400, 1000)
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
    f"--window-size={WINDOW[0]},{WINDOW[1]}",
)
INSTALL_HINT = "install it with `apt-get install chromium` (Debian/Ubuntu)"

#: the page's state: 'ready' once its script has run and every chart has drawn, with what is
#: on the page (a chart's code loads lazily: its element appears a moment after the script ends)
READY_JS = """(() => {
  const app = document.querySelector('[data-testid="stApp"]');
  const elements = document.querySelectorAll('[data-testid="stElementContainer"]').length;
  const drawn = document.querySelectorAll('.vega-embed canvas, .vega-embed svg').length;
  let state = 'ready';
  if (!app || app.getAttribute('data-test-script-state') !== 'notRunning') state = 'running';
  else if (!document.querySelector('h1')) state = 'no title yet';
  else for (const chart of document.querySelectorAll('.vega-embed'))
    if (!chart.querySelector('canvas, svg')) state = 'drawing charts';
  const title = (document.querySelector('h1') || {}).innerText || null;
  return JSON.stringify([state, elements, drawn, title]);
})()"""
#: click the sidebar link whose label (after its icon's name) is the given title
CLICK_JS = """(title) => {
  const links = document.querySelectorAll('[data-testid="stSidebarNavLink"]');
  const link = Array.from(links).find(a => a.innerText.trim().split('\\n').pop().trim() === title);
  if (!link) return false;
  link.click();
  return true;
}"""
#: seconds the page must stay ready and unchanged to count as drawn
SETTLE = 0.5
#: what the test checks in the page itself
FACTS_JS = """JSON.stringify({
  title: (document.querySelector('h1') || {}).innerText || null,
  exceptions: document.querySelectorAll('[data-testid="stException"]').length,
  errors: Array.from(document.querySelectorAll('[data-testid="stAlertContentError"]'))
    .map(e => e.innerText),
  banners: document.querySelectorAll('.cryptobot-simulated').length,
  dialogs: Array.from(document.querySelectorAll('[role="dialog"]')).map(d => d.innerText),
  charts: document.querySelectorAll('.vega-embed canvas, .vega-embed svg').length,
})"""


def chromium_path() -> str | None:
    return shutil.which("chromium")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def http_get(url: str, timeout: float = 2.0) -> str:
    with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310 - localhost
        return response.read().decode()


def stop(process: subprocess.Popen) -> None:
    """Terminate ``process``; kill it if it has not exited 10 s later."""
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@contextmanager
def streamlit_server(
    env: Mapping[str, str], log: Path, *, timeout: float = 60.0, main: Path = MAIN
) -> Iterator[str]:
    """``streamlit run app/main.py`` on a free port with ``env`` added (any other
    ``CRYPTOBOT_*`` variable removed); yields the base URL once ``/_stcore/health`` answers,
    stops the server after."""
    port = free_port()
    environment = {k: v for k, v in os.environ.items() if not k.startswith("CRYPTOBOT_")}
    command = [
        sys.executable, "-m", "streamlit", "run", str(main),
        "--server.headless", "true", "--server.port", str(port),
        "--server.address", "127.0.0.1", "--server.fileWatcherType", "none",
        "--browser.gatherUsageStats", "false",
    ]  # fmt: skip
    with log.open("w") as out:
        process = subprocess.Popen(
            command,
            cwd=log.parent,
            env=environment | dict(env),
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + timeout
        while True:
            if process.poll() is not None:
                raise RuntimeError(
                    f"streamlit exited with {process.returncode}:\n{log.read_text()}"
                )
            try:
                if http_get(f"{base}/_stcore/health") == "ok":
                    break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"streamlit not healthy after {timeout:.0f} s:\n{log.read_text()}"
                )
            time.sleep(0.1)
        yield base
    finally:
        stop(process)


class Page:
    """One browser tab, driven over the DevTools protocol."""

    def __init__(self, websocket) -> None:
        self.websocket = websocket
        self.next_id = 0

    async def call(self, method: str, **params) -> dict:
        self.next_id += 1
        message_id = self.next_id
        await self.websocket.send(
            json.dumps({"id": message_id, "method": method, "params": params})
        )
        while True:
            message = json.loads(await self.websocket.recv())
            if message.get("id") == message_id:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                return message["result"]

    async def evaluate(self, expression: str):
        result = await self.call("Runtime.evaluate", expression=expression, returnByValue=True)
        return result["result"].get("value")

    async def open(self, url: str, *, title: str | None = None, timeout: float = 45.0) -> dict:
        """Load ``url`` and wait until it is drawn; see ``settle``."""
        started = time.monotonic()
        await self.call("Page.navigate", url=url)
        await asyncio.sleep(0.2)  # let the previous document go
        return await self.settle(started, title, timeout)

    async def reload(self, *, title: str | None = None, timeout: float = 45.0) -> dict:
        """Reload the page (the browser's cache kept) and wait until it is drawn."""
        started = time.monotonic()
        await self.call("Page.reload", ignoreCache=False)
        await asyncio.sleep(0.2)
        return await self.settle(started, title, timeout)

    async def click(self, title: str, *, timeout: float = 45.0) -> dict:
        """Click the sidebar's link to the page ``title`` (the app switches pages over its
        websocket, without reloading) and wait until that page is drawn."""
        started = time.monotonic()
        clicked = await self.evaluate(f"({CLICK_JS})({json.dumps(title)})")
        if not clicked:
            raise RuntimeError(f"no sidebar link to {title!r}")
        return await self.settle(started, title, timeout)

    async def settle(self, started: float, title: str | None, timeout: float) -> dict:
        """Wait until the page is ready (its script finished, every chart drawn, its title
        ``title`` when given) and unchanged for ``SETTLE`` seconds; returns the page's facts
        (``FACTS_JS``), its state and the seconds from ``started`` until it was drawn."""
        state, seen, since = None, None, started
        while time.monotonic() - started < timeout:
            snapshot = json.loads(await self.evaluate(READY_JS))
            state = snapshot[0]
            if state == "ready" and title is not None and snapshot[3] != title:
                state = "still the previous page"
            if state != "ready" or snapshot != seen:
                seen, since = snapshot, time.monotonic()
            elif time.monotonic() - since >= SETTLE:
                break
            await asyncio.sleep(0.05)
        # drawn when it last changed (the settling wait is not part of the page's time)
        seconds = (since if state == "ready" else time.monotonic()) - started
        facts = json.loads(await self.evaluate(FACTS_JS))
        return facts | {"state": state, "seconds": round(seconds, 2)}

    async def screenshot(self, path: Path) -> Path:
        await asyncio.sleep(0.4)  # the last chart's paint
        shot = await self.call("Page.captureScreenshot", format="png")
        path.write_bytes(base64.b64decode(shot["data"]))
        return path


@asynccontextmanager
async def chromium_page(chromium: str, profile: Path):
    """A headless Chromium with one tab whose viewport is ``WINDOW``; stopped after."""
    import websockets

    profile.mkdir(parents=True, exist_ok=True)
    browser = subprocess.Popen(
        [chromium, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", "--remote-debugging-port=0",
         "about:blank"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        port_file = profile / "DevToolsActivePort"
        deadline = time.monotonic() + 30
        while not (port_file.exists() and port_file.read_text().strip()):
            if browser.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"chromium did not start (exit code {browser.poll()})")
            await asyncio.sleep(0.05)
        port = int(port_file.read_text().split()[0])
        targets = json.loads(http_get(f"http://127.0.0.1:{port}/json/list", timeout=10))
        target = next(t for t in targets if t["type"] == "page")
        async with websockets.connect(target["webSocketDebuggerUrl"], max_size=None) as ws:
            page = Page(ws)
            # the viewport itself, not the window with its (headless) browser chrome
            await page.call(
                "Emulation.setDeviceMetricsOverride",
                width=WINDOW[0],
                height=WINDOW[1],
                deviceScaleFactor=1,
                mobile=False,
            )
            yield page
    finally:
        stop(browser)


def image_stats(path: Path, banner_rgb: tuple[int, int, int]) -> dict:
    """Distinct colours (4 bits a channel), the share of drawn pixels (any channel below 225:
    not white, not the sidebar's light grey) and the pixels of the banner's colour."""
    import numpy as np
    from PIL import Image

    with Image.open(path) as image:
        size = image.size
        pixels = np.asarray(image.convert("RGB"), dtype=np.int16).reshape(-1, 3)
    colours = np.unique(pixels >> 4, axis=0)
    drawn = (pixels.min(axis=1) < 225).mean()
    banner = (np.abs(pixels - np.array(banner_rgb)) <= 8).all(axis=1).sum()
    return {
        "size": size,
        "colours": len(colours),
        "drawn": round(float(drawn), 4),
        "banner": int(banner),
    }
