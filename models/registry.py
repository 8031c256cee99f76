"""Reading the model registry, and the human override of the gate (``cryptobot promote``)."""

from __future__ import annotations

import getpass
from datetime import UTC, datetime
from typing import Any

from cryptobot.config import Settings
from cryptobot.errors import ModelError
from models.tracking import CHAMPION, configure

#: holdout metrics shown beside each champion
SHOWN_METRICS = (
    "directional_accuracy",
    "binomial_p",
    "dm_direction_p",
    "sharpe",
    "max_drawdown",
    "win_rate",
    "profit_factor",
    "total_return",
)


def _champion_version(client, name: str):
    from mlflow.exceptions import MlflowException

    try:
        return client.get_model_version_by_alias(name, CHAMPION)
    except MlflowException:
        return None


def _holdout_metrics(client, run_id: str | None) -> dict[str, float | None]:
    if not run_id:
        return {}
    metrics = client.get_run(run_id).data.metrics  # finite values only (train._clean)
    return {key: metrics.get(f"holdout/{key}") for key in SHOWN_METRICS}


def _live(settings: Settings) -> dict[tuple[str, str], tuple[int, float]]:
    from cryptobot.errors import WarehouseError
    from models.predictions import live_accuracy

    try:
        return live_accuracy(settings)
    except WarehouseError:  # no warehouse here (yet): no live record either
        return {}


def _incomplete(client, name: str, versions) -> dict[str, str]:
    """Version -> why it is incomplete, for the versions of ``name`` a killed training left
    (tagged by the next training, or found so now: see :mod:`models.recovery`)."""
    from models.recovery import gated_keys, version_is_incomplete

    out, keys = {}, None
    for version in versions:
        tags = version.tags or {}
        if "gate.decision" in tags or tags.get("training.complete") == "true":
            continue
        if keys is None:
            experiment = client.get_experiment_by_name(name)
            keys = gated_keys(client, experiment.experiment_id) if experiment else set()
        reason = version_is_incomplete(client, version, keys)
        if reason is not None:
            out[str(version.version)] = reason
    return out


def list_models(settings: Settings) -> list[dict[str, Any]]:
    """Every registered model: its versions and its champion with out-of-sample metrics, and
    the champion's live accuracy so far (resolved rows of ml_predictions). Versions a killed
    training left (never judged by the gate) are not counted: ``incomplete`` says how many."""
    client = configure(settings)
    live = _live(settings)
    out = []
    for model in client.search_registered_models(max_results=1000, order_by=["name ASC"]):
        versions = client.search_model_versions(f"name='{model.name}'", max_results=10000)
        incomplete = _incomplete(client, model.name, versions)
        champion = _champion_version(client, model.name)
        out.append(
            {
                "name": model.name,
                "versions": len(versions) - len(incomplete),
                "incomplete": len(incomplete),
                "simulated": model.tags.get("data.simulated") == "true",
                "champion": str(champion.version) if champion else None,
                "champion_family": champion.tags.get("family") if champion else None,
                "promoted_by": champion.tags.get("promoted_by") if champion else None,
                "metrics": _holdout_metrics(client, champion.run_id if champion else None),
                "live": live.get((model.name, str(champion.version))) if champion else None,
            }
        )
    return out


def model_versions(settings: Settings, name: str) -> list[dict[str, Any]]:
    """The versions of one registered model, newest first, with their gate decisions; versions
    a killed training left (never judged by the gate) are left out."""
    client = configure(settings)
    _require_model(client, name)
    versions = client.search_model_versions(f"name='{name}'", max_results=10000)
    incomplete = _incomplete(client, name, versions)
    versions = [v for v in versions if str(v.version) not in incomplete]
    # search results carry no aliases on MLflow's SQL store: read them from the model
    aliases = client.get_registered_model(name).aliases or {}
    return [
        {
            "version": str(v.version),
            "family": v.tags.get("family", "?"),
            "created": datetime.fromtimestamp(v.creation_timestamp / 1000, UTC),
            "aliases": sorted(
                a for a, version in aliases.items() if str(version) == str(v.version)
            ),
            "cv_accuracy": float(v.tags.get("cv.directional_accuracy", "nan")),
            "holdout_accuracy": float(v.tags.get("holdout.directional_accuracy", "nan")),
            "holdout_binomial_p": float(v.tags.get("holdout.binomial_p", "nan")),
            "gate": v.tags.get("gate.decision", ""),
            "gate_reasons": v.tags.get("gate.reasons", ""),
            "promoted_by": v.tags.get("promoted_by", ""),
        }
        for v in sorted(versions, key=lambda v: int(v.version), reverse=True)
    ]


def _require_model(client, name: str) -> None:
    from mlflow.exceptions import MlflowException

    try:
        client.get_registered_model(name)
    except MlflowException:
        known = [m.name for m in client.search_registered_models(max_results=1000)]
        raise ModelError(
            f"no registered model named {name!r}; "
            + (f"registered: {', '.join(sorted(known))}" if known else "run `cryptobot train`")
        ) from None


def promote(
    settings: Settings,
    name: str,
    version: str,
    *,
    force: bool,
    reason: str | None,
    by: str | None = None,
) -> dict[str, Any]:
    """Give ``champion`` to ``name`` version ``version``.

    Without ``force`` only a version the gate passed can be (re)promoted. With ``force`` (a
    human override) a reason is required; who, when, why and the previous champion are recorded
    in the version's tags.
    """
    from mlflow.exceptions import MlflowException

    client = configure(settings)
    _require_model(client, name)
    try:
        target = client.get_model_version(name, str(version))
    except MlflowException:
        raise ModelError(
            f"{name} has no version {version}: see `cryptobot models {name}`"
        ) from None
    previous = _champion_version(client, name)
    broken = _incomplete(client, name, [target])
    if broken:
        raise ModelError(
            f"{name} v{version} is incomplete: {broken[str(version)]}. It cannot be champion, "
            "even with --force: train again (`cryptobot train`)"
        )
    if not force and target.tags.get("gate.decision") != "promoted":
        decision = target.tags.get("gate.decision", "never judged by the gate")
        raise ModelError(
            f"{name} v{version} ({target.tags.get('family', '?')}) was not passed by the gate "
            f"({decision}"
            + (f": {target.tags['gate.reasons']}" if "gate.reasons" in target.tags else "")
            + "). A human override needs --force and --reason."
        )
    if force and not (reason and reason.strip()):
        raise ModelError("--force needs --reason: the override is recorded with who and why")
    who = by or getpass.getuser()
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    client.set_registered_model_alias(name, CHAMPION, str(version))
    tags = {
        "promoted_by": who if force else "gate",
        "promoted_at": now,
        "promotion.forced": str(force).lower(),
        "promotion.previous_champion": str(previous.version) if previous else "none",
    }
    if force:
        tags["promotion.reason"] = reason.strip()
    for key, value in tags.items():
        client.set_model_version_tag(name, str(version), key, value)
    return {
        "name": name,
        "version": str(version),
        "family": target.tags.get("family", "?"),
        "previous": str(previous.version) if previous else None,
        **tags,
    }
