"""The ingest settings (``[ingest]``): revision limits and first trading days."""

from __future__ import annotations

import pytest

from cryptobot.config import load_settings
from cryptobot.errors import ConfigError


def test_ingest_settings_from_file_and_environment(tmp_path, monkeypatch):
    from datetime import date

    config = tmp_path / "cryptobot.toml"
    config.write_text(
        "[ingest]\nrevision_max_sigma = 12.5\nfirst_trading_days = { MEXC = 2018-04-01 }\n"
    )
    monkeypatch.setenv("CRYPTOBOT_CONFIG", str(config))
    monkeypatch.setenv("CRYPTOBOT_INGEST__REVISION_WINDOW", "200")
    ingest = load_settings().ingest
    assert (ingest.revision_max_sigma, ingest.revision_window) == (12.5, 200)
    assert ingest.first_trading_days == {"mexc": date(2018, 4, 1)}
    monkeypatch.setenv("CRYPTOBOT_INGEST__REVISION_MAX_SIGMA", "0")
    with pytest.raises(ConfigError, match="ingest.revision_max_sigma"):
        load_settings()
