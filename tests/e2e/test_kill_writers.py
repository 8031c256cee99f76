"""A killed writer blocks nothing: SIGKILL each writing command at several points, under both
Prefect set-ups users get, then the next write completes and no Prefect server is left behind;
SIGTERM and Ctrl-C leave no server and no lock either.

The commands run as users run them (`cryptobot <command>` in a subprocess). Kill points: the
moment the command is seen holding the warehouse's write lock, and a moment later while it is
still at work. After each command's kills the same command runs to completion on the same
warehouse. The set-ups: no PREFECT_API_URL (each command starts a temporary server for itself)
and a running server (PREFECT_API_URL set).
"""

from __future__ import annotations

import itertools
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from cryptobot.config import load_settings
from cryptobot.features import build_features
from cryptobot.ingest import ingest_simulator
from cryptobot.warehouse.lock import read_holder
from tests.champions import train_champions

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

SYMBOLS = ["BTC/USDT", "ETH/USDT"]
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "files"
CLI = [sys.executable, "-m", "cryptobot.cli"]
#: every command that writes the warehouse, with arguments that make it do real work
COMMANDS = {
    "ingest": ["ingest", "--days", "120", "--symbols", ",".join(SYMBOLS), "--signal", "0.3"],
    "import": [
        "import",
        str(FIXTURES / "BTCUSDT-1h-2024-01-01.csv"),
        "--exchange",
        "binance",
        "--symbol",
        "BTC/USDT",
    ],
    "features": ["features"],
    "validate": ["validate"],
    "predict": ["predict", "--bars", "24"],
    "trade": ["trade"],
    "backtest": ["backtest", "--monte-carlo", "200"],
}
#: seconds after the lock is first seen held at which the second kill lands
LATER = 0.4
#: a new capital for each backtest: a new run id, so each one stores (writes) again
CAPITALS = itertools.count(10_000)


def _quiet(_: str) -> None:
    pass


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """A warehouse with features and an XGBoost champion per symbol; the env the CLI runs in."""
    root = tmp_path_factory.mktemp("kill")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CRYPTOBOT_", "PREFECT_API"))}
    env |= {
        "CRYPTOBOT_WAREHOUSE": str(root / "warehouse.duckdb"),
        "CRYPTOBOT_DATA_DIR": str(root),
        "CRYPTOBOT_SYMBOLS": ",".join(SYMBOLS),
        "CRYPTOBOT_TRAINING__MIN_TRAIN": "300",
        "CRYPTOBOT_TRAINING__FOLDS": "2",
        "CRYPTOBOT_WRITE_LOCK_TIMEOUT": "60",
        "PREFECT_HOME": str(root / "prefect"),
        "COLUMNS": "120",
    }
    with pytest.MonkeyPatch.context() as mp:
        for name in [n for n in os.environ if n.startswith("CRYPTOBOT_")]:
            mp.delenv(name)
        for name, value in env.items():
            if name.startswith("CRYPTOBOT_"):
                mp.setenv(name, value)
        settings = load_settings()
        ingest_simulator(settings, symbols=SYMBOLS, timeframe="1h", days=120, seed=5, signal=0.3)
        build_features(settings, log=_quiet)
        train_champions(settings, SYMBOLS)
    return env


@pytest.fixture(scope="module")
def running_server(data: dict[str, str]):
    """A Prefect server that outlives the commands, as `prefect server start` would be."""
    from flows._server import temporary_server

    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("PREFECT_HOME", data["PREFECT_HOME"])
        with temporary_server() as url:
            yield url


def _servers_of(pid: int) -> list[int]:
    """Processes running the temporary Prefect server started by ``pid``."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"flows._server" in argv and str(pid).encode() in argv:
            found.append(int(entry.name))
    return found


def _kill_when(process: subprocess.Popen, warehouse: Path, delay: float, timeout: float) -> str:
    """SIGKILL ``process`` ``delay`` s after it is seen holding the write lock; returns where."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and process.poll() is None:
        holder = read_holder(warehouse)
        if holder is not None and holder.pid == process.pid:
            time.sleep(delay)
            if process.poll() is not None:
                return "finished before the kill"
            os.kill(process.pid, signal.SIGKILL)
            process.wait()
            return "holding the lock" if delay == 0 else f"{delay} s into its write"
        time.sleep(0.002)
    if process.poll() is None:
        process.kill()
        process.wait()
        pytest.fail(f"never saw {process.args} hold the write lock in {timeout} s")
    return "finished before the kill"


def _run_through(env: dict[str, str], args: list[str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [*CLI, *args], env=env, capture_output=True, text=True, timeout=300, check=False
    )


@pytest.mark.parametrize("setup", ["temporary server", "running server"])
def test_a_killed_writer_never_blocks_the_next_write(setup, data, request):
    env = dict(data)
    if setup == "running server":
        env["PREFECT_API_URL"] = request.getfixturevalue("running_server")
    warehouse = Path(env["CRYPTOBOT_WAREHOUSE"])
    killed_where = {}
    for name, fixed in COMMANDS.items():
        for delay in (0.0, LATER):
            args = fixed
            if name == "backtest":  # another capital: a new backtest, stored (so written) again
                args = [*fixed, "--capital", str(next(CAPITALS))]
            process = subprocess.Popen(
                [*CLI, *args], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
            )
            where = _kill_when(process, warehouse, delay, timeout=120)
            killed_where.setdefault(name, []).append(where)
            deadline = time.monotonic() + 15
            while _servers_of(process.pid) and time.monotonic() < deadline:
                time.sleep(0.2)
            assert not _servers_of(process.pid), f"{name}: its Prefect server outlived it"
        started = time.monotonic()
        if name == "backtest":
            args = [*fixed, "--capital", str(next(CAPITALS))]
        done = _run_through(env, args)
        assert done.returncode == 0, f"{name} after its kills:\n{done.stdout}\n{done.stderr}"
        assert time.monotonic() - started < 120
        assert "waiting for the warehouse write lock" not in done.stdout + done.stderr
    # every command was killed while it held the lock at least once
    assert all("holding the lock" in points for points in killed_where.values()), killed_where


@pytest.mark.parametrize("how", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "Ctrl-C"])
def test_a_stopped_command_leaves_no_prefect_server_and_no_lock(how, data):
    """SIGTERM skips Python's exit handlers and Ctrl-C unwinds through them: either way the
    command's temporary Prefect server ends with it and the write lock is free at once."""
    env = dict(data)
    warehouse = Path(env["CRYPTOBOT_WAREHOUSE"])
    process = subprocess.Popen(
        [*CLI, "features", "--full-refresh"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and process.poll() is None:
        holder = read_holder(warehouse)
        if holder is not None and holder.pid == process.pid:
            break
        time.sleep(0.002)
    assert process.poll() is None, "the command ended before it held the lock"
    assert _servers_of(process.pid), "no temporary server was started"
    os.kill(process.pid, how)
    process.wait(timeout=60)
    deadline = time.monotonic() + 15
    while _servers_of(process.pid) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not _servers_of(process.pid), "its Prefect server outlived it"
    assert read_holder(warehouse) is None
