"""`cryptobot keys`: set/list/remove through the CLI, the passphrase from a Prefect Secret block,
and no secret in any file the program writes or in anything it prints."""

from __future__ import annotations

import base64
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from urllib.parse import quote

import duckdb
import pytest
from typer.testing import CliRunner

from cryptobot import keystore
from cryptobot.cli import app
from cryptobot.commands import keys as keys_command
from cryptobot.config import load_settings
from cryptobot.errors import KeyStoreError

pytestmark = pytest.mark.integration
runner = CliRunner()
ROOT = Path(__file__).resolve().parents[2]

API_KEY = "vmPUZE6mv9SD5VNHk4HlWFsOr6aKE2zvsw0MuIgwCIPy6utIco14y7Ju91duEh8A"
SECRET = "NhqPtmdSJYdKjVHjA7PZj4Mge3R5YNiP1e3UZjInClVN65XAbvqqM6A7H5fATj0j"
PASSPHRASE = "correct horse battery staple"


@pytest.fixture
def store(settings, monkeypatch):
    monkeypatch.setenv("CRYPTOBOT_KEYSTORE_PASSPHRASE", PASSPHRASE)
    return settings


def columns(settings) -> list[tuple]:
    with duckdb.connect(str(settings.warehouse), read_only=True) as con:
        return con.execute(
            "select name, api_key_encrypted, secret_key_encrypted from exchanges order by name"
        ).fetchall()


def test_set_from_stdin_list_masked_and_remove(store):
    result = runner.invoke(app, ["keys", "set", "Binance"], input=f"\n  {API_KEY} \n{SECRET}\n")
    assert result.exit_code == 0, result.output
    assert "stored the binance API key …Eh8A and its secret, encrypted" in result.output
    [(name, sealed_key, sealed_secret)] = columns(store)
    assert name == "binance" and sealed_key.startswith("v1:scrypt:")
    loaded = keystore.load_stored_keys(load_settings(), "binance", PASSPHRASE)
    assert (loaded.api_key.get_secret_value(), loaded.secret.get_secret_value()) == (
        API_KEY,
        SECRET,
    )
    listed = runner.invoke(app, ["keys", "list"], env={"COLUMNS": "200"})
    assert listed.exit_code == 0, listed.output
    row = next(line for line in listed.output.splitlines() if "binance" in line)
    assert "key store" in row and "…Eh8A" in row and "used" in row
    removed = runner.invoke(app, ["keys", "remove", "binance", "--yes"])
    assert removed.exit_code == 0 and "removed the stored binance keys" in removed.output
    assert columns(store) == [("binance", None, None)]
    again = runner.invoke(app, ["keys", "remove", "binance", "--yes"])
    assert again.exit_code == 12 and "no keys stored for binance" in again.output
    for output in (result.output, listed.output, removed.output):
        assert API_KEY not in output and SECRET not in output and PASSPHRASE not in output


def test_set_prompts_with_hidden_input_on_a_terminal(store, monkeypatch):
    monkeypatch.setattr(keys_command, "_stdin_is_tty", lambda: True)
    result = runner.invoke(app, ["keys", "set", "kraken"], input=f"{API_KEY}\n{SECRET}\n")
    assert result.exit_code == 0, result.output
    assert "kraken API key:" in result.output and "kraken secret:" in result.output
    assert API_KEY not in result.output and SECRET not in result.output  # not echoed
    assert [row[0] for row in columns(store)] == ["kraken"]
    # removing asks first on a terminal; "n" keeps the keys
    kept = runner.invoke(app, ["keys", "remove", "kraken"], input="n\n")
    assert kept.exit_code == 1 and "Aborted" in kept.output
    assert columns(store)[0][1] is not None


def test_bad_input_is_refused_clearly_and_stored_keys_stay(store, monkeypatch):
    assert (
        runner.invoke(app, ["keys", "set", "binance"], input=f"{API_KEY}\n{SECRET}\n").exit_code
        == 0
    )
    before = columns(store)
    pasted = f"{API_KEY[:20]} {API_KEY[20:]}"
    bad = runner.invoke(app, ["keys", "set", "binance"], input=f"{pasted}\n{SECRET}\n")
    assert bad.exit_code == 12
    assert "binance API key holds a blank" in bad.output and "character 21 of 65" in bad.output
    assert API_KEY[:20] not in bad.output and SECRET not in bad.output
    one_line = runner.invoke(app, ["keys", "set", "binance"], input=f"{API_KEY}\n")
    assert one_line.exit_code == 12 and "the secret on the next" in one_line.output
    unknown = runner.invoke(app, ["keys", "set", "binanse"], input=f"{API_KEY}\n{SECRET}\n")
    assert unknown.exit_code == 12 and "Did you mean binance" in unknown.output
    # a key on the command line is not an option: it would sit in the shell history
    argument = runner.invoke(app, ["keys", "set", "binance", API_KEY, SECRET])
    assert argument.exit_code == 12 and "never taken as command-line arguments" in argument.output
    assert API_KEY not in argument.output and SECRET not in argument.output
    assert columns(store) == before
    wrong = runner.invoke(
        app, ["keys", "list"], env={"CRYPTOBOT_KEYSTORE_PASSPHRASE": "not the passphrase"}
    )
    assert wrong.exit_code == 12 and "does not decrypt the stored keys of binance" in wrong.output
    monkeypatch.delenv("CRYPTOBOT_KEYSTORE_PASSPHRASE")
    nophrase = runner.invoke(app, ["keys", "set", "binance"], input=f"{API_KEY}\n{SECRET}\n")
    assert nophrase.exit_code == 12 and "set CRYPTOBOT_KEYSTORE_PASSPHRASE" in nophrase.output
    assert columns(store) == before


def test_the_passphrase_from_a_prefect_secret_block(settings, monkeypatch, prefect_harness):
    from prefect.blocks.system import Secret

    from flows._common import read_secret_block

    Secret(value=PASSPHRASE).save("cryptobot-keystore-test", overwrite=True)
    assert read_secret_block("cryptobot-keystore-test") == PASSPHRASE
    with pytest.raises(KeyStoreError, match="no Prefect Secret block named 'no-such-block'"):
        read_secret_block("no-such-block")
    monkeypatch.setenv("CRYPTOBOT_KEYSTORE_PASSPHRASE_BLOCK", "cryptobot-keystore-test")
    result = runner.invoke(app, ["keys", "set", "binance"], input=f"{API_KEY}\n{SECRET}\n")
    assert result.exit_code == 0, result.output
    stored = keystore.load_stored_keys(load_settings(), "binance", PASSPHRASE)
    assert stored.secret.get_secret_value() == SECRET


# -- nothing the program writes or prints holds a secret ------------------------------------------

ENV_KEY = "EnvKey7hQ2mZ9xW4vB8nL3kJ6pR1sT5yU0aC4dF7gH2jK9"
ENV_SECRET = "EnvSecret3nB8vC1xZ6mL9kJ4hG7fD2sA5pO0iU3yT6rE1w"
TELEGRAM_TOKEN = "7712345678:AAFb3kYx9-Zq_UvW2sT8rP5nM1lK4jH6gD0"

#: a flow that logs secrets the ways code does by mistake: run logger, library logger, exception
LEAKY_FLOW = textwrap.dedent(
    """
    import logging, os
    from prefect import flow, get_run_logger, task

    import flows._common  # installs the redactor, as every flow module does
    from cryptobot.config import load_settings
    from flows._common import secrets_out_of_errors
    from flows._server import temporary_server

    @task
    def leak():
        key = os.environ["CRYPTOBOT_EXCHANGE_API_KEY"]
        secret = os.environ["CRYPTOBOT_EXCHANGE_SECRET"]
        get_run_logger().info("the key is %s", key)
        logging.getLogger("ccxt.base").warning("signing with %s", secret)
        try:
            token = os.environ["CRYPTOBOT_TELEGRAM_BOT_TOKEN"]
            raise RuntimeError(f"exchange refused key {key} with token {token}")
        except RuntimeError:
            get_run_logger().exception("the exchange call failed")
        # Prefect keeps a raised exception's text in the run's state, outside logging
        with secrets_out_of_errors():
            raise ValueError(f"exchange said no to {key}")

    @flow(name="leaky")
    def leaky():
        load_settings()
        get_run_logger().info("passphrase %s", os.environ["CRYPTOBOT_KEYSTORE_PASSPHRASE"])
        leak()

    with temporary_server():
        try:
            leaky()
        except ValueError as exc:
            print("flow failed as planned:", exc)
    """
)


def _forms(value: str) -> list[bytes]:
    raw = value.encode()
    return [raw, base64.b64encode(raw), base64.urlsafe_b64encode(raw), quote(value).encode()]


@pytest.mark.slow
def test_no_file_written_and_no_output_holds_a_secret(tmp_path):
    data, prefect_home, home, cwd = (tmp_path / d for d in ("data", "prefect", "home", "cwd"))
    for folder in (data, prefect_home, home, cwd):
        folder.mkdir()
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("CRYPTOBOT_", "PREFECT_"))
    }
    env.update(
        HOME=str(home),
        PREFECT_HOME=str(prefect_home),
        PYTHONPATH=str(ROOT),
        CRYPTOBOT_DATA_DIR=str(data),
        CRYPTOBOT_WAREHOUSE=str(data / "warehouse.duckdb"),
        CRYPTOBOT_KEYSTORE_PASSPHRASE=PASSPHRASE,
        CRYPTOBOT_TELEGRAM_BOT_TOKEN=TELEGRAM_TOKEN,
        COLUMNS="200",
    )
    outputs: list[str] = []

    def run(args: list[str], stdin: str = "", **extra: str) -> subprocess.CompletedProcess:
        done = subprocess.run(
            args,
            input=stdin,
            capture_output=True,
            text=True,
            cwd=cwd,
            env={**env, **extra},
            timeout=300,
        )
        outputs.extend((done.stdout, done.stderr))
        return done

    def cli(*args: str, stdin: str = "", **extra: str) -> subprocess.CompletedProcess:
        return run([sys.executable, "-m", "cryptobot.cli", *args], stdin, **extra)

    assert cli("keys", "set", "binance", stdin=f"{API_KEY}\n{SECRET}\n").returncode == 0
    assert cli("keys", "set", "kraken", stdin=f"{ENV_KEY}\n{ENV_SECRET}\n").returncode == 0
    bad = cli("keys", "set", "okx", stdin=f"{API_KEY}\t\n{SECRET} {SECRET}\n")
    assert bad.returncode == 12, bad.stderr
    listed = cli("keys", "list")
    assert listed.returncode == 0 and "…Eh8A" in listed.stdout, listed.stderr
    # a live start that is refused after the stored keys were decrypted (the prices would be
    # simulated), through the trade flow on a Prefect server whose database is in PREFECT_HOME
    live = cli("trade", CRYPTOBOT_TRADING__MODE="live")
    assert live.returncode == 9 and "simulated prices" in live.stderr, live.stderr
    # the same with the keys in the environment, and one with a key that fails validation
    env_live = cli(
        "trade",
        CRYPTOBOT_TRADING__MODE="live",
        CRYPTOBOT_EXCHANGE_API_KEY=f"{ENV_KEY}\n",
        CRYPTOBOT_EXCHANGE_SECRET=ENV_SECRET,
    )
    assert env_live.returncode == 9 and "simulated prices" in env_live.stderr, env_live.stderr
    broken = cli("trade", CRYPTOBOT_EXCHANGE_API_KEY=f"{ENV_KEY[:9]} {ENV_KEY[9:]}")
    assert broken.returncode == 2 and "not shown" in broken.stderr, broken.stderr
    # a flow that logs secrets by mistake: the records reach Prefect's log table redacted
    leaky = run(
        [sys.executable, "-c", LEAKY_FLOW],
        PREFECT_LOGGING_EXTRA_LOGGERS="ccxt",
        CRYPTOBOT_EXCHANGE_API_KEY=ENV_KEY,
        CRYPTOBOT_EXCHANGE_SECRET=ENV_SECRET,
    )
    assert "flow failed as planned" in leaky.stdout, leaky.stderr[-3000:]
    assert "the key is <redacted>" in leaky.stderr and "signing with <redacted>" in leaky.stderr
    assert cli("keys", "remove", "kraken", "--yes").returncode == 0

    sealed = columns(load_settings(warehouse=data / "warehouse.duckdb"))
    assert [row[0] for row in sealed] == ["binance", "kraken"]
    assert sealed[0][1].startswith("v1:scrypt:") and sealed[1][1:] == (None, None)

    secrets = [API_KEY, SECRET, ENV_KEY, ENV_SECRET, PASSPHRASE, TELEGRAM_TOKEN]
    files = [path for root in (data, prefect_home, home, cwd) for path in root.rglob("*")]
    files = [path for path in files if path.is_file()]
    prefect_db = b"".join(p.read_bytes() for p in files if p.name.startswith("prefect.db"))
    # the run logs were stored, redacted
    assert b"the key is <redacted>" in prefect_db and b"signing with <redacted>" in prefect_db
    assert b"exchange refused key <redacted> with token <redacted>" in prefect_db
    assert b"ValueError: exchange said no to <redacted>" in prefect_db  # the run's state
    assert b"simulated prices" in prefect_db
    assert any(p.suffix == ".duckdb" for p in files)
    for path in files:
        content = path.read_bytes()
        for secret in secrets:
            for form in _forms(secret):
                assert form not in content, f"{path} holds a secret"
    printed = "\n".join(outputs).encode()
    for secret in secrets:
        for form in _forms(secret):
            assert form not in printed, f"the output holds a secret: {secret[:4]}..."
