"""The REST API against a seeded warehouse: auth, paging and filters, rate limit, CORS, the
snapshot under a writer, metrics, the deployments' runs, the token commands, and a schemathesis
fuzz of every operation (no 500, no unauthenticated 2xx, no secret in a response)."""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from cryptobot.api import create_app
from cryptobot.api import snapshot as snapshot_module
from cryptobot.api.app import build_state
from cryptobot.api.deployments import DeploymentStatus
from cryptobot.api.tokens import create_token, hash_token, list_tokens, revoke_token
from cryptobot.config import Settings
from cryptobot.errors import ApiError
from cryptobot.warehouse.db import read_connection, write_connection
from tests.app_warehouse import stored_backtest
from tests.trading_factory import seed_trading

pytestmark = pytest.mark.integration

SECRET = "exchange-secret-value-that-must-never-leak"


def _settings(root: Path, **api) -> Settings:
    return Settings(
        warehouse=root / "warehouse.duckdb",
        data_dir=root,
        exchange_api_key="exchange-key-value-that-must-never-leak",
        exchange_secret=SECRET,
        api=api,
    )


@pytest.fixture(scope="module")
def seeded(tmp_path_factory) -> tuple[Settings, object, str]:
    """A warehouse with a trading history, a stored backtest and one token."""
    root = tmp_path_factory.mktemp("api")
    settings = _settings(root)
    trading = seed_trading(settings.warehouse)
    stored_backtest(settings, symbols=("BTC/USDT",), end=trading.end, bars=48)
    token, _ = create_token(settings.warehouse, "tests")
    return settings, trading, token


def _client(settings: Settings, **kwargs) -> TestClient:
    return TestClient(create_app(settings, background=False, **kwargs))


def _auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


# -- tokens --------------------------------------------------------------------------------------


def test_tokens_are_stored_hashed_and_revoked_tokens_are_refused(settings: Settings) -> None:
    token, info = create_token(settings.warehouse, "grafana")
    assert token.startswith("cbt_") and len(token) > 40
    with read_connection(settings.warehouse) as con:
        stored = con.execute("select * from api_tokens").fetchall()
    assert token not in repr(stored) and hash_token(token) in repr(stored)
    assert token.encode() not in settings.warehouse.read_bytes()
    with pytest.raises(ApiError, match="exists already"):
        create_token(settings.warehouse, "grafana")
    with pytest.raises(ApiError, match="not valid"):
        create_token(settings.warehouse, "  ")

    app = create_app(settings, background=False)
    with TestClient(app) as client:
        assert client.get("/status", headers=_auth(token)).status_code == 200
        revoke_token(settings.warehouse, "grafana")
        app.state.api.snapshots.refresh()  # the next snapshot has the revocation
        refused = client.get("/status", headers=_auth(token))
        assert refused.status_code == 401 and "revoked" in refused.json()["detail"]
        assert refused.headers["www-authenticate"].startswith("Bearer")
    [listed] = list_tokens(settings.warehouse)
    assert listed.token_id == info.token_id and listed.revoked_at is not None
    with pytest.raises(ApiError, match="no active API token"):
        revoke_token(settings.warehouse, "grafana")


def test_last_use_is_written_back_with_the_next_snapshot(settings: Settings) -> None:
    token, _ = create_token(settings.warehouse, "probe")
    app = create_app(settings, background=False)
    with TestClient(app) as client:
        client.get("/status", headers=_auth(token))
        assert app.state.api.snapshots.refresh()  # a pending last use makes a copy
    [listed] = list_tokens(settings.warehouse)
    assert listed.last_used_at is not None


def test_every_endpoint_but_liveness_needs_a_token(seeded) -> None:
    settings, _, token = seeded
    with _client(settings) as client:
        assert client.get("/health/live").json() == {"status": "ok"}
        paths = [p for p in client.get("/openapi.json").json()["paths"] if "{" not in p]
        paths.append("/backtests/some-run")
        for path in paths:
            if path == "/health/live":
                continue
            client.get(path, headers=_auth(token))  # an answer the fast path keeps
            for headers in (
                {},
                _auth("cbt_wrong"),
                {"Authorization": f"Basic {token}"},
                {"Authorization": token},
            ):
                response = client.get(path, headers=headers)
                assert response.status_code == 401, (path, headers, response.text)


# -- reads ---------------------------------------------------------------------------------------


def test_orders_and_trades_are_paged_and_filtered(seeded) -> None:
    settings, trading, token = seeded
    fills = trading.trades
    with _client(settings) as client:
        got = client.get("/trades", params={"limit": 5}, headers=_auth(token)).json()
        assert got["total"] == len(fills) and len(got["items"]) == 5 and got["next_offset"] == 5
        newest = fills.sort_values(["ts", "id"], ascending=[False, True]).iloc[0]
        assert got["items"][0]["id"] == newest["id"]
        assert got["snapshot"]["generation"] == 1 and got["snapshot"]["copied_at"]
        assert float(client.get("/trades", headers=_auth(token)).headers["x-snapshot-age"]) >= 0
        last = client.get(
            "/trades", params={"limit": 5, "offset": len(fills) - 2}, headers=_auth(token)
        ).json()
        assert len(last["items"]) == 2 and last["next_offset"] is None

        buys_btc = client.get(
            "/trades", params={"symbol": "BTC/USDT", "side": "buy"}, headers=_auth(token)
        ).json()
        expected = fills[(fills["symbol"] == "BTC/USDT") & (fills["side"] == "buy")]
        assert buys_btc["total"] == len(expected) > 0
        assert {(i["symbol"], i["side"]) for i in buys_btc["items"]} == {("BTC/USDT", "buy")}

        # a time with an offset is read as UTC: 02:00+02:00 is midnight UTC
        cut = (trading.start + (trading.end - trading.start) / 2).floor("h")
        since = client.get(
            "/trades",
            params={"start": cut.tz_localize("UTC").tz_convert("Etc/GMT-2").isoformat()},
            headers=_auth(token),
        ).json()
        assert since["total"] == int((fills["ts"] >= cut).sum())

        orders = client.get(
            "/orders", params={"status": "filled", "limit": 1000}, headers=_auth(token)
        ).json()
        assert orders["total"] == trading.orders
        assert (
            client.get("/orders", params={"status": "bogus"}, headers=_auth(token)).status_code
            == 422
        )
        too_big = client.get("/orders", params={"limit": 10**6}, headers=_auth(token))
        assert too_big.status_code == 422 and "limit" in too_big.text


def test_status_positions_equity_predictions_backtests_quality(seeded) -> None:
    settings, trading, token = seeded
    with _client(settings) as client:
        status = client.get("/status", headers=_auth(token)).json()
        assert status["is_simulated"] and status["series"] == len(trading.symbols)
        assert status["fills"] == len(trading.trades) and status["backtests"] == 1
        [account] = status["accounts"]
        assert account["equity"] == pytest.approx(trading.equity["equity"].iloc[-1])

        positions = client.get("/positions", headers=_auth(token)).json()["items"]
        assert {p["symbol"] for p in positions} == set(trading.symbols)

        equity = client.get("/equity", params={"limit": 3}, headers=_auth(token)).json()
        assert equity["total"] == len(trading.equity)
        assert equity["items"][0]["ts"].startswith(str(trading.equity["ts"].max().date()))

        predictions = client.get(
            "/predictions", params={"symbol": "ETH/USDT", "limit": 1000}, headers=_auth(token)
        ).json()
        assert predictions["total"] == 64 and all(
            p["symbol"] == "ETH/USDT" for p in predictions["items"]
        )

        backtests = client.get("/backtests", headers=_auth(token)).json()
        [run] = backtests["items"]
        assert run["legs"] == 1 and run["total_return"] == pytest.approx(0.05)
        detail = client.get(f"/backtests/{run['run_id']}", headers=_auth(token)).json()["run"]
        assert detail["metrics"]["sharpe"] == pytest.approx(1.25)
        assert [leg["role"] for leg in detail["legs"]] == ["buy_and_hold"]
        missing = client.get("/backtests/nope", headers=_auth(token))
        assert missing.status_code == 404 and "no stored backtest" in missing.json()["detail"]

        quality = client.get("/quality", headers=_auth(token)).json()
        assert {s["symbol"] for s in quality["series"]} == set(trading.symbols)


def test_models_reads_the_champion_from_the_mlflow_store(seeded, tmp_path) -> None:
    settings, _, token = seeded
    store = tmp_path / "mlflow.db"
    with sqlite3.connect(store) as con:  # the tables and columns MLflow's SQL store keeps
        con.executescript(
            """
            create table registered_models (name varchar primary key, creation_time bigint,
                last_updated_time bigint, description varchar);
            create table registered_model_tags (key varchar, value varchar, name varchar);
            create table registered_model_aliases (alias varchar, version integer, name varchar);
            create table model_versions (name varchar, version integer, creation_time bigint,
                run_id varchar, status varchar);
            insert into registered_models values ('simulator.BTC-USDT.1h.h1', 1767225600000,
                1767229200000, null);
            insert into registered_model_tags values ('symbol', 'BTC/USDT',
                'simulator.BTC-USDT.1h.h1'), ('data.simulated', 'true', 'simulator.BTC-USDT.1h.h1');
            insert into registered_model_aliases values ('champion', 2, 'simulator.BTC-USDT.1h.h1');
            insert into model_versions values ('simulator.BTC-USDT.1h.h1', 1, 0, 'a', 'READY'),
                ('simulator.BTC-USDT.1h.h1', 2, 0, 'b', 'READY'),
                ('simulator.BTC-USDT.1h.h1', 3, 0, 'c', 'READY');
            """
        )
    with _client(settings.model_copy(update={"mlflow_tracking_uri": f"sqlite:///{store}"})) as c:
        [model] = c.get("/models", headers=_auth(token)).json()["items"]
    assert model["champion_version"] == "2" and model["latest_version"] == "3"
    assert model["symbol"] == "BTC/USDT" and model["is_simulated"]


# -- limits --------------------------------------------------------------------------------------


def test_rate_limit_answers_429_with_retry_after(seeded) -> None:
    settings, _, token = seeded
    limited = settings.model_copy(
        update={"api": settings.api.model_copy(update={"rate_limit_per_second": 0.2,
                                                       "rate_limit_burst": 3})}
    )  # fmt: skip
    with _client(limited) as client:
        codes = [client.get("/status", headers=_auth(token)).status_code for _ in range(4)]
        assert codes == [200, 200, 200, 429]
        refused = client.get("/status", headers=_auth(token))
        assert refused.status_code == 429 and int(refused.headers["retry-after"]) == 5
        assert client.get("/health/live").status_code == 200  # liveness is never limited
        metrics = client.get("/metrics", headers=_auth(token))
        assert metrics.status_code == 429


def test_cors_is_off_by_default_and_on_for_named_origins(seeded) -> None:
    settings, _, token = seeded
    headers = _auth(token) | {"Origin": "https://evil.example"}
    with _client(settings) as client:
        response = client.get("/status", headers=headers)
        assert "access-control-allow-origin" not in response.headers
        preflight = client.options(
            "/status", headers={"Origin": "https://evil.example",
                                "Access-Control-Request-Method": "GET"}
        )  # fmt: skip
        assert "access-control-allow-origin" not in preflight.headers
    allowed = settings.model_copy(
        update={
            "api": settings.api.model_copy(update={"cors_origins": ["https://grafana.example"]})
        }
    )
    with _client(allowed) as client:
        ok = client.get("/status", headers=_auth(token) | {"Origin": "https://grafana.example"})
        assert ok.headers["access-control-allow-origin"] == "https://grafana.example"
        assert "access-control-allow-origin" not in client.get("/status", headers=headers).headers


# -- the snapshot --------------------------------------------------------------------------------


def _in_thread(call):
    """``call()`` in another thread (the write lock is re-entrant in the test's own)."""
    result = []
    thread = threading.Thread(target=lambda: result.append(call()))
    thread.start()
    thread.join()
    return result[0]


def test_the_snapshot_serves_while_a_writer_holds_the_warehouse(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    seed_trading(settings.warehouse, bars=13)
    token, _ = create_token(settings.warehouse, "t")
    fast = settings.model_copy(
        update={"api": settings.api.model_copy(update={"snapshot_lock_timeout": 0.2})}
    )
    app = create_app(fast, background=False)
    snapshots = app.state.api.snapshots
    with TestClient(app) as client:
        before = client.get("/status", headers=_auth(token)).json()
        assert _in_thread(snapshots.refresh)  # writes the token's last use under the lock
        with write_connection(settings.warehouse) as con:  # a flow's step holds lock and file
            con.execute("delete from trades")
            started = time.perf_counter()
            response = client.get("/status", headers=_auth(token))
            assert time.perf_counter() - started < 1.0
            assert response.status_code == 200 and response.json()["fills"] == before["fills"]
            # the commit is copied without the lock once the file is quiet
            free = snapshots.lock_free_copies
            assert _in_thread(snapshots.refresh) and snapshots.lock_free_copies == free + 1
            after = client.get("/status", headers=_auth(token)).json()
            assert after["fills"] == 0 and after["snapshot"]["generation"] == 3

            con.execute("delete from orders")
            # writes that never pause: no quiet moment for a lock-free copy
            monkeypatch.setattr(snapshot_module, "QUIET_ATTEMPTS", 0)
            assert not _in_thread(snapshots.refresh)  # and the lock is not free
            assert "kept the older snapshot" in snapshots.last_error
            assert "write lock" in snapshots.last_error
            kept = client.get("/status", headers=_auth(token)).json()
            assert kept["orders"] == before["orders"] and kept["snapshot"]["generation"] == 3
        assert snapshots.refresh()
        assert client.get("/status", headers=_auth(token)).json()["orders"] == 0
        ready = client.get("/health/ready", headers=_auth(token)).json()
        assert ready["ready"] and ready["warehouse_readable"]
        assert {s["symbol"] for s in ready["series"]} == {"BTC/USDT", "ETH/USDT"}
        assert all(s["bar_age_seconds"] > 0 for s in ready["series"])


def test_an_old_generation_stays_open_for_its_readers(settings: Settings) -> None:
    seed_trading(settings.warehouse, bars=13)
    state = build_state(settings)
    snapshots = state.snapshots
    snapshots.prepare()
    with snapshots.reading() as old:
        with write_connection(settings.warehouse) as con:
            con.execute("delete from orders")
        assert snapshots.refresh()
        assert old.cursor().execute("select count(*) from orders").fetchone()[0] > 0
        assert old.path.exists()
    assert not old.path.exists()  # closed and deleted once its last reader is done
    snapshots.stop()
    assert not any(snapshots.folder.iterdir())
    orphan = snapshots.folder / "snapshot-999999999-3.duckdb"  # of a killed API process
    orphan.write_bytes(b"")
    snapshots.prepare()
    assert not orphan.exists()
    snapshots.stop()


def test_a_new_snapshot_renders_the_answers_asked_for_lately_before_it_serves(
    settings: Settings,
) -> None:
    seed_trading(settings.warehouse, bars=13)
    token, _ = create_token(settings.warehouse, "t")
    app = create_app(settings, background=False)
    snapshots = app.state.api.snapshots
    with TestClient(app) as client:
        client.get("/trades", params={"side": "buy"}, headers=_auth(token))
        with write_connection(settings.warehouse) as con:
            con.execute("delete from trades where side = 'buy'")
        assert _in_thread(snapshots.refresh)
        warmed = [key for key, _ in snapshots.hot.items() if key[0] == "trades"]
        assert warmed and snapshots.current.peek(warmed[0]) is not None  # before any request
        answer = client.get("/trades", params={"side": "buy"}, headers=_auth(token)).json()
        assert answer["total"] == 0
        assert answer["snapshot"]["generation"] == snapshots.current.generation


def test_readiness_reports_the_deployments_last_runs(seeded) -> None:
    settings, _, token = seeded
    deployment = {"id": "d1", "name": "trade-hourly", "paused": False}
    run = {
        "id": "r1", "name": "clever-fox", "deployment_id": "d1",
        "state": {"type": "COMPLETED", "name": "Completed"},
        "start_time": "2026-12-05T10:00:01.5Z", "end_time": "2026-12-05T10:00:41Z",
        "total_run_time": 39.5,
    }  # fmt: skip
    seen = []

    def prefect(request: httpx.Request) -> httpx.Response:
        seen.append((request.url.path, json.loads(request.content or b"{}")))
        if request.url.path.endswith("/deployments/filter"):
            return httpx.Response(200, json=[deployment])
        return httpx.Response(200, json=[run])

    deployments = DeploymentStatus(
        "http://127.0.0.1:4200/api", transport=httpx.MockTransport(prefect)
    )
    state = build_state(settings, deployments=deployments)
    with TestClient(create_app(settings, state=state, background=False)) as client:
        ready = client.get("/health/ready", headers=_auth(token)).json()
        metrics = client.get("/metrics", headers=_auth(token)).text
    [found] = ready["deployments"]["deployments"]
    assert ready["deployments"]["source"] == "ok"
    assert found["name"] == "trade-hourly" and found["state"] == "COMPLETED"
    assert found["seconds"] == 39.5
    assert seen[1][1]["flow_runs"]["deployment_id"] == {"any_": ["d1"]}
    assert (
        'cryptobot_flow_run_duration_seconds{deployment="trade-hourly",state="COMPLETED"} 39.5'
        in metrics
    )

    down = DeploymentStatus(
        "http://127.0.0.1:4200/api",
        transport=httpx.MockTransport(lambda request: httpx.Response(500, text="boom")),
    ).get()
    assert down.source == "unreachable" and "could not be read" in down.detail
    assert DeploymentStatus(None).get().source == "unknown"


def test_metrics_are_prometheus_text(seeded) -> None:
    from prometheus_client.parser import text_string_to_metric_families

    settings, _, token = seeded
    with _client(settings) as client:
        client.get("/status", headers=_auth(token))
        response = client.get("/metrics", headers=_auth(token))
    assert response.headers["content-type"].startswith("text/plain")
    families = {f.name: f for f in text_string_to_metric_families(response.text)}
    ages = {s.labels["symbol"]: s.value for s in families["cryptobot_bar_age_seconds"].samples}
    assert set(ages) == {"BTC/USDT", "ETH/USDT"} and all(v > 0 for v in ages.values())
    latency = families["cryptobot_api_request_duration_seconds"].samples
    assert any(s.labels.get("route") == "/status" and s.name.endswith("_count") for s in latency)
    assert "cryptobot_api_snapshot_age_seconds" in families


# -- the command line ----------------------------------------------------------------------------


def test_token_commands(settings: Settings) -> None:
    from cryptobot.cli import app

    runner = CliRunner()
    created = runner.invoke(app, ["api", "token", "create", "--name", "ci"])
    assert created.exit_code == 0, created.output
    token = created.stdout.strip().splitlines()[-1]
    assert token.startswith("cbt_")
    listed = runner.invoke(app, ["api", "token", "list"])
    assert listed.exit_code == 0 and "ci" in listed.stdout and token not in listed.stdout
    assert runner.invoke(app, ["api", "token", "revoke", "ci"]).exit_code == 0
    again = runner.invoke(app, ["api", "token", "revoke", "ci"])
    assert again.exit_code == ApiError.exit_code and "no active API token" in again.output
    assert "Examples" in runner.invoke(app, ["api", "serve", "--help"]).stdout


# -- fuzzing -------------------------------------------------------------------------------------


def _fuzz(operation, client: TestClient, token: str, secrets: list[str], calls: list) -> None:
    """25 generated requests for ``operation``, each sent with the token and without it."""
    from hypothesis import HealthCheck, given, settings

    @given(case=operation.as_strategy())
    @settings(
        max_examples=25, deadline=None, database=None, suppress_health_check=list(HealthCheck)
    )
    def fuzz(case) -> None:
        kwargs = case.as_transport_kwargs(base_url="http://testserver")
        headers = {
            k: v for k, v in (kwargs.get("headers") or {}).items() if k.lower() != "authorization"
        }
        for auth in (_auth(token), {}):
            response = client.request(
                kwargs["method"], kwargs["url"], params=kwargs.get("params"), headers=headers | auth
            )
            calls.append((operation.path, response.status_code))
            assert response.status_code < 500, (kwargs, response.text)
            if not auth and operation.path != "/health/live":
                assert response.status_code == 401, (kwargs, response.text)
            for secret in secrets:
                assert secret not in response.text

    fuzz()


@pytest.mark.slow
def test_fuzzed_operations_never_fail_never_leak_and_need_a_token(seeded) -> None:
    """schemathesis generates requests for every operation from the OpenAPI schema, each sent
    with a valid token and without one."""
    import schemathesis

    settings, _, token = seeded
    with _client(settings) as client:  # the lifespan makes the snapshot
        schema = schemathesis.openapi.from_dict(client.get("/openapi.json").json())
        secrets = [token, hash_token(token), SECRET, "exchange-key-value-that-must-never-leak"]
        calls: list[tuple[str, int]] = []
        for result in schema.get_all_operations():
            _fuzz(result.ok(), client, token, secrets, calls)
    assert {path for path, _ in calls} == set(schema.raw_schema["paths"])
    assert any(code == 200 for path, code in calls if path == "/orders")
