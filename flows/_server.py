"""Prefect's temporary API server for one command, tied to that command's life.

Without ``PREFECT_API_URL`` Prefect starts a temporary server for the process that runs a flow
and stops it at interpreter exit. A process that is killed (SIGKILL, or SIGTERM, which skips
``atexit``) never stops it: the server lived on (200+ MB each) after every killed command.

:func:`temporary_server` starts the same server (Prefect's own ASGI app under uvicorn, the UI
off) in a child that ends with its parent, however the parent ends: on Linux the kernel sends the
child SIGTERM when the parent dies (``PR_SET_PDEATHSIG``), and on every platform a watchdog thread
in the child checks the parent once a second. With ``PREFECT_API_URL`` set (a running server)
nothing is started.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

#: seconds to wait for the server to answer /api/health (its first start creates its database)
STARTUP_TIMEOUT = 120.0
#: seconds the server gets to stop after SIGTERM before it is killed
STOP_TIMEOUT = 10.0
_PR_SET_PDEATHSIG = 1


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _server_env() -> dict[str, str]:
    from prefect.settings import get_current_settings

    return {
        **os.environ,
        **get_current_settings().to_environment_variables(exclude_unset=True),
        "PREFECT_UI_ENABLED": "0",
        "PREFECT__SERVER_EPHEMERAL": "1",
        "PREFECT__SERVER_FINAL": "1",
    }


def _wait_healthy(process: subprocess.Popen, url: str, deadline: float) -> bool:
    import httpx

    with httpx.Client(timeout=2.0) as client:
        while time.monotonic() < deadline:
            if process.poll() is not None:
                return False
            try:
                if client.get(f"{url}/health").status_code == 200:
                    return True
            except httpx.TransportError:
                pass
            time.sleep(0.1)
    return False


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=STOP_TIMEOUT)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@contextmanager
def temporary_server() -> Iterator[str | None]:
    """Run the block against a temporary Prefect server that dies with this process; yields its
    API URL, or None when ``PREFECT_API_URL`` already names a server."""
    from prefect.settings import PREFECT_API_URL, get_current_settings, temporary_settings

    if get_current_settings().api.url:
        yield None
        return
    env = _server_env()
    process = url = None
    for _ in range(3):  # the port may be taken between choosing it and binding it
        port = _free_port()
        url = f"http://127.0.0.1:{port}/api"
        process = subprocess.Popen(
            [sys.executable, "-m", "flows._server", str(os.getpid()), str(port)],
            env=env,
            stdin=subprocess.DEVNULL,
        )
        if _wait_healthy(process, url, time.monotonic() + STARTUP_TIMEOUT):
            break
        _stop(process)
        process = None
    if process is None:
        from cryptobot.errors import CryptobotError

        raise CryptobotError(
            "the temporary Prefect server did not start within "
            f"{STARTUP_TIMEOUT:.0f} s; run one with `prefect server start` and set PREFECT_API_URL"
        )
    try:
        with temporary_settings(updates={PREFECT_API_URL: url}), _global_settings():
            try:
                yield url
            finally:
                _drain_workers()
    finally:
        _stop(process)


@contextmanager
def _global_settings() -> Iterator[None]:
    """The API URL for threads that start with an empty context too (Prefect's heartbeat and
    event workers would otherwise read the import-time settings and start a server of their
    own); what ``prefect_test_harness`` does for its server."""
    import prefect.context

    with prefect.context._temporary_global_settings_context(prefect.context.get_settings_context()):
        yield


def _drain_workers() -> None:
    """Send the logs and events still queued before the server stops (else they are retried
    against a stopped server for a minute at exit)."""
    import inspect

    from prefect.events.worker import EventsWorker
    from prefect.logging.handlers import APILogWorker
    from prefect.utilities.asyncutils import run_coro_as_sync

    async def drain() -> None:
        try:
            result = APILogWorker.instance().drain()
            if inspect.isawaitable(result):
                await result
        except RuntimeError:  # the worker never started
            pass
        result = EventsWorker.drain_all()
        if inspect.isawaitable(result):
            await result

    run_coro_as_sync(drain())


# -- the child -----------------------------------------------------------------------------------


def _die_with(parent: int) -> None:
    """End this process when ``parent`` ends."""
    if sys.platform.startswith("linux"):
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
    if os.getppid() != parent:  # the parent died before the line above
        os._exit(0)

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(1.0)
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(STOP_TIMEOUT)
        os._exit(1)  # a shutdown that hangs

    threading.Thread(target=watch, name="parent-watchdog", daemon=True).start()


def _serve(parent: int, port: int) -> None:
    _die_with(parent)
    import uvicorn

    uvicorn.run(
        "prefect.server.api.server:create_app",
        factory=True,
        host="127.0.0.1",
        port=port,
        log_level="error",
        lifespan="on",
    )


if __name__ == "__main__":
    _serve(int(sys.argv[1]), int(sys.argv[2]))
