"""Backtest engines on one case: SMA(10)/SMA(50) crossover, N one-minute bars (default 1,000,000).

Usage: .venv/bin/python benchmarks/bench_backtest.py [--bars N] [--skip-vectorbt] [--cold-numba]

The peer case of the shared BENCHMARKS.md: long only, signal on bar t's close, fill at bar t+1's
open, 0.1% fee per side, all in with fractional units, 10,000 starting cash. The bars are a seeded
random walk (open = previous close). Three engines run it from the same OHLCV arrays to an equity
curve at each bar's close:

- numpy: a plain vectorised reference in this interpreter (the "practical limit" row);
- vectorbt: ``Portfolio.from_signals`` (MA.run x2, crossovers, signals shifted one bar,
  ``price=open``, ``pf.value()``), run as a subprocess in its own virtualenv, created once with the
  system Python 3.11 outside the repo (``~/.cache/cryptobot-bench/vectorbt-<version>``, or
  ``$CRYPTOBOT_BENCH_VBT_ENV``) and reused; the project's .venv is never touched;
- cryptobot: the project's engine, through ``run_cryptobot`` below.

Measured: seconds per backtest (median of 3 after a first call), bars/s, the first call (for
vectorbt: in a fresh process, numba compiling or loading its cache), the install time of the
vectorbt environment, round trips and final equity. Checked: every engine makes the same entry
and exit bars as the numpy reference (exactly) and the same equity curve within a printed relative
tolerance. Exits 1 when the engines disagree, 2 when the vectorbt environment cannot be set up.
"""

from __future__ import annotations

import argparse
import datetime as dt
import fcntl
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

SIDE_SCRIPT = Path(__file__).resolve().parent / "_vectorbt_side.py"

FAST, SLOW, FEE, CAPITAL = 10, 50, 0.001, 10_000.0
SEED = 42
SIGMA = 0.001  # per-bar log-return std (~3.8% a day); the round-trip count does not depend on it
START_PRICE = 100.0
WARM_RUNS = 3

VBT_VERSION = os.environ.get("CRYPTOBOT_BENCH_VBT_VERSION", "1.2.0")
CACHE_ROOT = Path.home() / ".cache" / "cryptobot-bench"
MARKER = "cryptobot-bench.json"

# vectorbt and the numpy reference charge the same fees the same way (entry: cash / (1 + fee) buys
# units, exit: proceeds x (1 - fee)), so their curves differ only by float rounding (~1e-12).
REFERENCE_RTOL = 1e-9


# ------------------------------------------------------------------ the project's engine (stub)


def run_cryptobot(
    open_, high, low, close, volume, ts, *, fast=10, slow=50, fee=0.001, capital=10_000.0
):
    """The project's engine on the SMA crossover: the ``sma_cross`` strategy's targets and the
    execution core's bar loop (:func:`cryptobot.trading.core.run_bars`: fills at the next open,
    marks, sizing, every risk check), the scope vectorbt's timing covers (its moving averages,
    crossovers, ``from_signals`` and ``value()``). All in: ``max_position_size`` 1 with every
    other limit out of the way, fee only (no spread, slippage or impact), amounts on a 1e-12
    step, no minimum order. Returns (entry_bars, exit_bars, equity, seconds, first call)."""
    import pandas as pd

    from cryptobot.config import RiskLimits, Settings, TradingSettings
    from cryptobot.trading import core
    from cryptobot.trading.bars import Bars
    from cryptobot.trading.strategies import get_strategy

    settings = Settings(
        risk=RiskLimits(
            max_position_size=1.0,
            max_daily_loss=1.0,
            max_drawdown=1.0,
            correlation_limit=1.0,
            leverage_limit=10.0,
            volatility_threshold=1e9,
            liquidity_minimum=0.0,
            spread_maximum=1.0,
        ),
        trading=TradingSettings(
            fee=fee, spread=0.0, slippage=0.0, impact=0.0, rebalance_threshold=0.0,
            liquidity_window=1, correlation_window=24,
        ),
    )  # fmt: skip
    n = len(close)
    market = np.zeros((n, 1, 5))
    market[:, 0, core.OPEN] = open_
    market[:, 0, core.CLOSE] = close
    market[:, 0, core.VOLUME] = volume
    market[:, 0, core.LOGRET] = np.concatenate([[np.nan], np.diff(np.log(close))])
    bar_ns = 60 * 1_000_000_000
    bars = Bars(["X/USD"], bar_ns, ts, (ts + bar_ns)[:, None].copy(), market)
    params = core.CoreParams.from_settings(settings, 60).array()
    rules = np.array([[1e-12, 0.0, 0.0, 0.0]])
    strategy = get_strategy("sma_cross", fast=fast, slow=slow)
    frame = pd.DataFrame({"close": close})

    def once():
        targets = strategy.populate_targets(frame)[:, None].copy()
        book = core.Book(n, 1, capital, capacity=n // 10 + 16)
        core.run_bars(
            0, n - 1, bars.ts, bars.avail, bars.market, targets, rules, params, *book.state(),
            np.zeros((n, 1), np.int8),
        )  # fmt: skip
        return book

    book, first, med = time_calls(once)
    fills = book.fills[: book.counts[1]]
    sides = book.orders[fills[:, core.F_ORDER].astype(np.int64), 2] > 0
    bars_filled = fills[:, core.F_BAR].astype(np.int64)
    return bars_filled[sides], bars_filled[~sides], book.equity[:, core.E_EQUITY], med, first


def time_calls(fn: Callable[[], object], runs: int = WARM_RUNS) -> tuple[object, float, float]:
    """Call ``fn`` once, then ``runs`` more times: (last result, first seconds, median seconds)."""
    started = time.perf_counter()
    result = fn()
    first = time.perf_counter() - started
    seconds = []
    for _ in range(runs):
        started = time.perf_counter()
        result = fn()
        seconds.append(time.perf_counter() - started)
    return result, first, statistics.median(seconds)


# ------------------------------------------------------------------ data and the numpy reference


def make_bars(n: int, seed: int = SEED, sigma: float = SIGMA) -> dict[str, np.ndarray]:
    """A seeded geometric random walk of n one-minute OHLCV bars; open = the previous close."""
    rng = np.random.default_rng(seed)
    close = START_PRICE * np.exp(np.cumsum(rng.normal(0.0, sigma, n)))
    open_ = np.empty(n)
    open_[0] = START_PRICE
    open_[1:] = close[:-1]
    high = np.maximum(open_, close) * np.exp(np.abs(rng.normal(0.0, sigma / 2, n)))
    low = np.minimum(open_, close) * np.exp(-np.abs(rng.normal(0.0, sigma / 2, n)))
    volume = rng.lognormal(3.0, 1.0, n)
    start = np.datetime64("2024-01-01T00:00", "ns").astype(np.int64)
    ts = start + np.arange(n, dtype=np.int64) * 60_000_000_000
    return {"open": open_, "high": high, "low": low, "close": close, "volume": volume, "ts": ts}


def sma(x: np.ndarray, window: int) -> np.ndarray:
    """Simple moving average, NaN for the first window - 1 bars (the running-sum arithmetic of
    vectorbt's rolling mean, so both see the same crossings)."""
    c = np.concatenate([[0.0], np.cumsum(x)])
    out = np.full(x.shape[0], np.nan)
    out[window - 1 :] = (c[window:] - c[:-window]) / window
    return out


def run_numpy(open_, close, *, fast=FAST, slow=SLOW, fee=FEE, capital=CAPITAL):
    """Plain numpy, vectorised: (entry_bars, exit_bars, equity at each close)."""
    n = close.shape[0]
    f, s = sma(close, fast), sma(close, slow)
    above, below = f > s, f < s  # False where either is NaN
    sig = np.zeros(n, dtype=np.int8)
    sig[1:][above[1:] & ~above[:-1] & ~np.isnan(s[:-1])] = 1  # crossed above on bar t's close
    sig[1:][below[1:] & ~below[:-1] & ~np.isnan(s[:-1])] = -1
    # order on bar t+1: hold from the fill after an entry signal until the fill after an exit signal
    order = np.zeros(n, dtype=np.int8)
    order[1:] = sig[:-1]
    last = np.maximum.accumulate(np.where(order != 0, np.arange(n), -1))
    held = (last >= 0) & (order[np.maximum(last, 0)] == 1)
    prev = np.concatenate([[False], held[:-1]])
    entries = np.flatnonzero(held & ~prev)
    exits = np.flatnonzero(~held & prev)
    if entries.shape[0] == 0:
        return entries, exits, np.full(n, capital)
    p_in, p_out = open_[entries], open_[exits]
    k = exits.shape[0]
    # all in: units = cash / (1 + fee) / price; cash after the exit = units x price x (1 - fee)
    cash = capital * np.cumprod(p_out / p_in[:k] * ((1.0 - fee) / (1.0 + fee)))
    cash = np.concatenate([[capital], cash])
    units = cash[: entries.shape[0]] / (1.0 + fee) / p_in
    n_in = np.cumsum(held & ~prev)  # entries filled up to and including each bar
    n_out = np.cumsum(~held & prev)
    equity = np.where(held, units[np.maximum(n_in - 1, 0)] * close, cash[n_out])
    return entries, exits, equity


# ------------------------------------------------------------------ the vectorbt environment


def say(msg: str) -> None:
    print(msg, flush=True)


def base_python() -> str:
    """The system Python 3.11 (never this process's virtualenv, never the project's .venv)."""
    found = os.environ.get("CRYPTOBOT_BENCH_PYTHON") or shutil.which("python3.11")
    found = found or getattr(sys, "_base_executable", None) or shutil.which("python3")
    in_venv = sys.prefix != sys.base_prefix
    if found and in_venv and Path(found).absolute().is_relative_to(Path(sys.prefix).absolute()):
        found = getattr(sys, "_base_executable", None)  # an activated .venv's python3.11
    if not found:
        raise SystemExit("no python3.11 found; set CRYPTOBOT_BENCH_PYTHON")
    return found


def env_dir(version: str) -> Path:
    override = os.environ.get("CRYPTOBOT_BENCH_VBT_ENV")
    return Path(override).expanduser() if override else CACHE_ROOT / f"vectorbt-{version}"


def read_marker(path: Path) -> dict | None:
    try:
        return json.loads((path / MARKER).read_text())
    except (OSError, ValueError):
        return None


def registry_versions(python: str) -> list[str]:
    """vectorbt's versions on the package index, newest first (``pip index versions``)."""
    out = subprocess.run(
        [python, "-m", "pip", "index", "versions", "vectorbt"], capture_output=True, text=True
    )
    for line in out.stdout.splitlines():
        if line.strip().startswith("Available versions:"):
            return [v.strip() for v in line.split(":", 1)[1].split(",") if v.strip()]
    return []


def pick_version(python: str) -> str:
    """VBT_VERSION when the registry has it (checked with ``pip download --no-deps`` when
    ``pip index`` says nothing), else the newest it has."""
    versions = registry_versions(python)
    if VBT_VERSION in versions:
        return VBT_VERSION
    with tempfile.TemporaryDirectory() as tmp:
        for spec in (f"vectorbt=={VBT_VERSION}", "vectorbt"):
            out = subprocess.run(
                [python, "-m", "pip", "download", "--no-deps", "-q", "-d", tmp, spec],
                capture_output=True,
                text=True,
            )
            wheels = sorted(Path(tmp).glob("vectorbt-*"))
            if out.returncode == 0 and wheels:
                got = wheels[0].name.split("-")[1].removesuffix(".tar.gz")
                if got != VBT_VERSION:
                    say(f"  vectorbt {VBT_VERSION} is not on the registry; using the newest: {got}")
                return got
    if versions:
        say(f"  vectorbt {VBT_VERSION} is not on the registry; using the newest: {versions[0]}")
        return versions[0]
    raise SystemExit("vectorbt is not on the package registry")


def ensure_vectorbt_env() -> tuple[Path, dict]:
    """Create the vectorbt virtualenv once (locked against a parallel run); reuse it afterwards."""
    path = env_dir(VBT_VERSION)
    marker = read_marker(path)
    if marker:
        say(
            f"vectorbt env: reusing {path} (vectorbt {marker['vectorbt']}, installed "
            f"{marker['installed_at']} in {marker['install_seconds']:.1f} s)"
        )
        return path, marker
    python = base_python()
    say(f"vectorbt env: checking the registry for vectorbt {VBT_VERSION} ...")
    version = pick_version(python)
    if version != VBT_VERSION:
        path = env_dir(version)
        marker = read_marker(path)
        if marker:
            say(f"vectorbt env: reusing {path} (vectorbt {marker['vectorbt']})")
            return path, marker
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.parent / f"{path.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        marker = read_marker(path)
        if marker:  # a parallel run finished it while this one waited
            return path, marker
        if path.exists():
            say(f"vectorbt env: {path} has no completed install; removing it")
            shutil.rmtree(path)
        say(f"vectorbt env: creating {path} with {python}")
        started = time.perf_counter()
        subprocess.run([python, "-m", "venv", str(path)], check=True)
        venv_s = time.perf_counter() - started
        say(f"vectorbt env: pip install vectorbt=={version} (its own numpy, pandas, numba, ...)")
        vpy = str(path / "bin" / "python")
        started_pip = time.perf_counter()
        proc = subprocess.Popen(
            [vpy, "-m", "pip", "install", "--progress-bar", "off", f"vectorbt=={version}"],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        tail: list[str] = []
        assert proc.stdout is not None
        for line in proc.stdout:
            line = line.rstrip()
            tail = [*tail[-30:], line]
            if line.startswith(("Collecting", "Installing collected", "Successfully installed")):
                say(f"  [pip] {line[:150]}")
        if proc.wait() != 0:
            say("\n".join(tail))
            raise SystemExit(2)
        pip_s = time.perf_counter() - started_pip
        check = subprocess.run(
            [vpy, "-c", "import vectorbt, sys; print(vectorbt.__version__)"],
            capture_output=True,
            text=True,
            env=child_env(path),
        )
        if check.returncode != 0:
            say(check.stderr)
            raise SystemExit(2)
        marker = {
            "vectorbt": check.stdout.strip(),
            "requested": VBT_VERSION,
            "python": subprocess.run(
                [vpy, "-c", "import sys; print(sys.version.split()[0])"],
                capture_output=True,
                text=True,
            ).stdout.strip(),
            "venv_seconds": round(venv_s, 2),
            "pip_seconds": round(pip_s, 2),
            "install_seconds": round(venv_s + pip_s, 2),
            "installed_at": dt.datetime.now().isoformat(timespec="seconds"),
        }
        (path / MARKER).write_text(json.dumps(marker, indent=2))
        say(
            f"vectorbt env: installed vectorbt {marker['vectorbt']} in "
            f"{marker['install_seconds']:.1f} s (venv {venv_s:.1f} s + pip {pip_s:.1f} s)"
        )
        return path, marker


def child_env(path: Path, numba_cache: Path | None = None) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in {"VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP", "NUMBA_CACHE_DIR"}
    }
    env["PATH"] = f"{path / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    if numba_cache is not None:
        env["NUMBA_CACHE_DIR"] = str(numba_cache)
    return env


def run_vectorbt(bars: dict[str, np.ndarray], cold_numba: bool) -> dict:
    path, marker = ensure_vectorbt_env()
    with tempfile.TemporaryDirectory(prefix="bench-backtest-") as tmp:
        work = Path(tmp)
        for name, arr in bars.items():
            np.save(work / f"{name}.npy", arr)
        params = {
            "fast": FAST,
            "slow": SLOW,
            "fee": FEE,
            "capital": CAPITAL,
            "warm_runs": WARM_RUNS,
        }
        (work / "params.json").write_text(json.dumps(params))
        cache = work / "numba-cache" if cold_numba else path / "numba-cache"
        cache_state = "warm" if cache.exists() and any(cache.rglob("*.nbi")) else "cold"
        say(
            f"vectorbt: running Portfolio.from_signals in {path.name} (numba cache {cache_state}"
            + (": compiling, ~30 s)" if cache_state == "cold" else ")")
        )
        started = time.perf_counter()
        proc = subprocess.run(
            [str(path / "bin" / "python"), str(SIDE_SCRIPT), str(work)],
            capture_output=True,
            text=True,
            env=child_env(path, cache),
            cwd=tmp,
        )
        wall = time.perf_counter() - started
        if proc.returncode != 0:
            say(proc.stdout + proc.stderr)
            raise SystemExit(2)
        res = json.loads((work / "vbt_result.json").read_text())
        for name in ("entries", "exits", "equity", "value"):
            res[name] = np.load(work / f"vbt_{name}.npy")
    res.update(marker=marker, cache_state=cache_state, process_seconds=wall)
    return res


# ------------------------------------------------------------------ comparison and report


def first_mismatch(name_a: str, a: tuple, name_b: str, b: tuple) -> bool:
    """True when the entry and exit bars agree; else prints the first differing trades."""
    ok = True
    for kind, xa, xb in (("entry", a[0], b[0]), ("exit", a[1], b[1])):
        if xa.shape == xb.shape and np.array_equal(xa, xb):
            continue
        ok = False
        m = min(xa.shape[0], xb.shape[0])
        diff = np.flatnonzero(xa[:m] != xb[:m])
        k = int(diff[0]) if diff.size else m
        say(
            f"MISMATCH {name_a} vs {name_b}: {kind} bars differ at trade #{k} "
            f"({xa.shape[0]} vs {xb.shape[0]} {kind} fills)"
        )
        lo = max(k - 2, 0)
        say(f"  {name_a:>10} {kind} bars [{lo}:{k + 3}]: {xa[lo : k + 3].tolist()}")
        say(f"  {name_b:>10} {kind} bars [{lo}:{k + 3}]: {xb[lo : k + 3].tolist()}")
    return ok


def rel_diff(a: np.ndarray, b: np.ndarray) -> tuple[float, int]:
    """Largest |a - b| / |b| over the curve and the bar where it is."""
    r = np.abs(a - b) / np.maximum(np.abs(b), np.finfo(float).tiny)
    i = int(np.argmax(r))
    return float(r[i]), i


def compare(name: str, got: tuple, ref: tuple, rtol: float) -> bool:
    ok = first_mismatch(name, got, "numpy", ref)
    if got[2].shape != ref[2].shape:
        say(f"MISMATCH {name}: equity has {got[2].shape[0]} values, expected {ref[2].shape[0]}")
        return False
    worst, bar = rel_diff(got[2], ref[2])
    final = abs(got[2][-1] - ref[2][-1]) / abs(ref[2][-1])
    verdict = "ok" if ok and worst <= rtol else "MISMATCH"
    say(
        f"{name} vs numpy: trades {'identical' if ok else 'DIFFER'}; equity max rel diff "
        f"{worst:.2e} (bar {bar:,}), final {final:.2e}; tolerance {rtol:.1e} -> {verdict}"
    )
    return ok and worst <= rtol


def rate(bars: int, seconds: float) -> str:
    r = bars / seconds
    return f"{r / 1e6:.2f} M" if r >= 1e6 else f"{r / 1e3:.1f} k"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        epilog=__doc__.split("\n\n", 2)[2],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--bars", type=int, default=1_000_000, help="bars (default 1,000,000)")
    parser.add_argument("--seed", type=int, default=SEED, help=f"random walk seed (default {SEED})")
    parser.add_argument("--skip-vectorbt", action="store_true", help="numpy and cryptobot only")
    parser.add_argument(
        "--cold-numba",
        action="store_true",
        help="give vectorbt an empty numba cache: its first call then compiles, as in a fresh env",
    )
    parser.add_argument(
        "--rtol",
        type=float,
        default=None,
        help="relative equity tolerance for cryptobot (default 1e-9 + 2 x round trips x fee^2)",
    )
    args = parser.parse_args()
    if args.bars < SLOW + 2:
        parser.error(f"--bars must be at least {SLOW + 2}")

    n = args.bars
    started = time.perf_counter()
    bars = make_bars(n, args.seed)
    say(
        f"data: {n:,} one-minute bars, seeded random walk (seed {args.seed}, sigma {SIGMA:.2%} a "
        f"bar, close {bars['close'].min():.2f}..{bars['close'].max():.2f}), "
        f"{time.perf_counter() - started:.2f} s"
    )
    say(
        f"case: SMA({FAST})/SMA({SLOW}) crossover, long only, signal on bar t's close, fill at bar "
        f"t+1's open, fee {FEE:.1%} a side, all in, fractional units, capital {CAPITAL:,.0f}"
    )

    rows = []  # engine, bars/s, seconds, first call, round trips, final equity
    ref, first, med = time_calls(lambda: run_numpy(bars["open"], bars["close"]))
    trips = ref[1].shape[0]
    rows.append(("numpy (vectorised)", med, first, ref))
    open_note = " (+1 open at the end)" if ref[0].shape[0] > trips else ""
    say(f"round trips: {trips:,}{open_note}; BENCHMARKS.md's case made 13,800 on 1,000,000 bars")
    drag = ((1 - FEE) / (1 + FEE)) ** trips
    say(
        f"fees alone scale the equity by {drag:.2e} over them (a random walk gives the crossover "
        f"no edge): final equities near {CAPITAL * drag:.1e} are expected"
    )

    ok = True
    vbt = None
    if not args.skip_vectorbt:
        vbt = run_vectorbt(bars, args.cold_numba)
        got = (vbt["entries"], vbt["exits"], vbt["equity"])
        rows.append(
            (f"vectorbt {vbt['vectorbt']}", vbt["median_seconds"], vbt["first_seconds"], got)
        )
        ok &= compare("vectorbt", got, ref, REFERENCE_RTOL)
        # info only: vectorbt's own figures, which sum cash flows (see BENCHMARKS.md's pitfalls)
        worst, bar = rel_diff(vbt["value"], ref[2])
        fv = vbt["final_value_vbt"]
        fv_rel = abs(fv - ref[2][-1]) / abs(ref[2][-1])
        why = (
            f": init_cash + the sum of {vbt['orders']:,} cash flows, cancelling"
            if fv_rel > REFERENCE_RTOL
            else ""
        )
        say(
            f"  vectorbt's own pf.value(): max rel diff {worst:.2e} vs numpy (bar {bar:,}), last "
            f"{vbt['value_last_vbt']:.6g}; pf.final_value() = {fv:.6g} (rel diff {fv_rel:.2e}{why})"
        )
        smallest = vbt["min_order_size"]
        say(
            f"  vectorbt: smallest order {smallest:.3g} units (min_size=0 passed: its default 1e-8 "
            f"rejects orders once the equity has shrunk; sizes within 1e-12 of 0 are ignored)"
        )
        if smallest is not None and smallest < 1e-10:
            say(
                "  note: that is within 100x of vectorbt's 1e-12 zero; with less capital, dearer "
                "bars or more trades it would start ignoring orders (the trade check catches it)"
            )

    crypto_ok = True
    try:
        out = run_cryptobot(
            bars["open"], bars["high"], bars["low"], bars["close"], bars["volume"], bars["ts"],
            fast=FAST, slow=SLOW, fee=FEE, capital=CAPITAL,
        )  # fmt: skip
    except NotImplementedError:
        out = None
        others = "numpy only" if args.skip_vectorbt else "vectorbt and numpy only"
        say(f"cryptobot: run_cryptobot() is not implemented yet (stub); comparing {others}")
    if out is not None:
        entries, exits, equity, seconds = out[:4]
        got = (
            np.asarray(entries, np.int64),
            np.asarray(exits, np.int64),
            np.asarray(equity, float),
        )
        rtol = args.rtol if args.rtol is not None else 1e-9 + 2 * trips * FEE**2
        say(
            f"cryptobot tolerance {rtol:.1e}: charging the entry fee on the cash (c x fee) instead "
            f"of on the notional (c x fee / (1 + fee)) changes the equity by fee^2 a round trip"
        )
        crypto_ok = compare("cryptobot", got, ref, rtol)
        rows.append(("cryptobot", float(seconds), float(out[4]) if len(out) > 4 else None, got))
    ok &= crypto_ok

    say("")
    head = f"{'engine':<22}{'bars/s':>10}{'seconds':>10}{'first call':>12}{'round trips':>13}"
    say(f"{head}  final equity")
    for name, med, first, res in rows:
        first_s = f"{first:.3f}" if first is not None else "n/a"
        say(
            f"{name:<22}{rate(n, med):>10}{med:>10.4f}{first_s:>12}{res[1].shape[0]:>13,}  "
            f"{res[2][-1]:.6g}"
        )
    if vbt is not None:
        m, fs = vbt["marker"], vbt["median_from_signals_seconds"]
        say(
            f"vectorbt {vbt['vectorbt']} (numba {vbt['numba']}, numpy {vbt['numpy']}, pandas "
            f"{vbt['pandas']}, Python {vbt['python']}, engine {vbt['engine']}"
            f"{', rust' if vbt['rust_available'] else ', numba only'}): env installed in "
            f"{m['install_seconds']:.1f} s; import {vbt['import_seconds']:.2f} s; first call "
            f"{vbt['first_seconds']:.2f} s (numba cache {vbt['cache_state']}); from_signals alone "
            f"{fs:.4f} s ({rate(n, fs)} bars/s); whole subprocess {vbt['process_seconds']:.1f} s"
        )
    by_name = {r[0].split()[0]: r for r in rows}
    if "vectorbt" in by_name and "numpy" in by_name:
        x = by_name["vectorbt"][1] / by_name["numpy"][1]
        say(f"numpy vs vectorbt: {x:.1f} x faster")
    if "vectorbt" in by_name and "cryptobot" in by_name:
        x = by_name["vectorbt"][1] / by_name["cryptobot"][1]
        word = f"{x:.1f} x faster" if x >= 1 else f"{1 / x:.1f} x slower"
        say(f"cryptobot vs vectorbt: {word}")
    else:
        missing = "engine not plugged in" if "cryptobot" not in by_name else "--skip-vectorbt"
        say(f"cryptobot vs vectorbt: n/a ({missing})")
    if not ok:
        say("FAILED: the engines disagree")
        sys.exit(1)


if __name__ == "__main__":
    main()
