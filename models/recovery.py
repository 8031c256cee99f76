"""What a killed ``cryptobot train`` leaves behind, found and marked by the next one.

A training logs one MLflow run per family (with nested fold runs), registers each family's model
as a version, and only then runs the promotion gate, which tags the challenger's decision and
marks every version of the training ``training.complete``. Killed in between, it leaves:

* runs still ``RUNNING`` whose process is gone: set ``FAILED`` (tag ``cryptobot.interrupted``);
* registered versions no gate ever judged: tagged ``incomplete`` with the reason. ``cryptobot
  models`` leaves them out, and no alias can be given to them (``promote`` refuses, even forced).

Whose process a run is: training runs carry the tags ``cryptobot.pid`` and ``cryptobot.host``;
a run of this host whose pid no longer runs is gone. A run of another host, or one logged before
these tags existed, counts as gone once it is older than ``STALE_AFTER``. A training still in
progress (its process alive) is never touched.
"""

from __future__ import annotations

import os
import socket
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime

#: a run with no live owner we can check is taken for dead after this many seconds
STALE_AFTER = 6 * 3600
GATE_RUN = "promotion gate"
COMPLETE_TAG = "training.complete"
INCOMPLETE_TAG = "incomplete"


def owner_tags() -> dict[str, str]:
    """The tags naming the process that logs a run."""
    return {"cryptobot.pid": str(os.getpid()), "cryptobot.host": socket.gethostname()}


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # it exists, owned by someone else
        return True
    return True


def owner_gone(tags: dict[str, str], start_ms: int | None, now: float | None = None) -> bool:
    """Whether the process that logged a run (``tags``, started at ``start_ms``) is gone."""
    now = time.time() if now is None else now
    pid, host = tags.get("cryptobot.pid"), tags.get("cryptobot.host")
    if pid and pid.isdigit() and host == socket.gethostname():
        return int(pid) != os.getpid() and not _pid_alive(int(pid))
    return start_ms is not None and now - start_ms / 1000 > STALE_AFTER


@dataclass
class Recovered:
    failed_runs: list[str] = field(default_factory=list)  # run ids set FAILED
    incomplete_versions: list[str] = field(default_factory=list)  # version numbers tagged

    def describe(self, name: str) -> str:
        parts = []
        if self.failed_runs:
            parts.append(f"{len(self.failed_runs)} run(s) left RUNNING set FAILED")
        if self.incomplete_versions:
            parts.append(
                f"version(s) {', '.join('v' + v for v in self.incomplete_versions)} tagged "
                "incomplete (never judged by the gate)"
            )
        return f"{name}: an earlier training was interrupted: " + "; ".join(parts)


def version_is_incomplete(client, version, gated_keys: set[str], run_tags: dict | None = None):
    """None when ``version`` is complete (or still being trained), else why it is not."""
    tags = version.tags or {}
    if INCOMPLETE_TAG in tags:
        return tags.get("incomplete.reason", "training interrupted")
    if "gate.decision" in tags or tags.get(COMPLETE_TAG) == "true":
        return None
    if run_tags is None:
        if not version.run_id:
            return None  # not registered by a training (a human's): nothing to go by
        run = client.get_run(version.run_id)
        run_tags, start = run.data.tags, run.info.start_time
    else:
        start = None
    key = run_tags.get("training.key", "")
    if key and key in gated_keys:
        return None  # its training reached the gate (logged before training.complete existed)
    if not key:
        return None  # logged before training keys: nothing to go by
    if not owner_gone(run_tags, start if start is not None else version.creation_timestamp):
        return None  # its training is still running
    return (
        f"its training (run {version.run_id}) ended before the promotion gate judged it: "
        "the training was interrupted"
    )


def gated_keys(client, experiment_id: str) -> set[str]:
    """The training keys whose promotion gate ran."""
    runs = client.search_runs(
        [experiment_id], filter_string=f"attributes.run_name = '{GATE_RUN}'", max_results=5000
    )
    return {r.data.tags.get("training.key", "") for r in runs} - {""}


def recover_interrupted(client, experiment_id: str, name: str) -> Recovered:
    """Mark what an interrupted training of the registered model ``name`` (in the experiment
    ``experiment_id``) left: dead RUNNING runs FAILED, ungated versions incomplete."""
    from mlflow.exceptions import MlflowException

    found = Recovered()
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    running = client.search_runs(
        [experiment_id], filter_string="attributes.status = 'RUNNING'", max_results=5000
    )
    parents = {r.info.run_id: r for r in running}
    for run in running:
        tags = dict(run.data.tags)
        parent = tags.get("mlflow.parentRunId")
        if "cryptobot.pid" not in tags and parent:
            owner = parents.get(parent) or client.get_run(parent)
            tags = {**owner.data.tags, **tags}
        if owner_gone(tags, run.info.start_time):
            client.set_tag(
                run.info.run_id,
                "cryptobot.interrupted",
                f"its process was gone; marked FAILED by the next training at {now}",
            )
            client.set_terminated(run.info.run_id, status="FAILED")
            found.failed_runs.append(run.info.run_id)
    try:
        versions = client.search_model_versions(f"name='{name}'", max_results=10000)
    except MlflowException:
        return found
    keys = None
    for version in versions:
        tags = version.tags or {}
        if INCOMPLETE_TAG in tags or "gate.decision" in tags or tags.get(COMPLETE_TAG) == "true":
            continue
        keys = gated_keys(client, experiment_id) if keys is None else keys
        reason = version_is_incomplete(client, version, keys)
        if reason is None:
            run_key = (
                client.get_run(version.run_id).data.tags.get("training.key", "")
                if version.run_id
                else ""
            )
            if run_key and run_key in keys:  # judged before the tag existed: say so once
                client.set_model_version_tag(name, version.version, COMPLETE_TAG, "true")
            continue
        client.set_model_version_tag(name, version.version, INCOMPLETE_TAG, "true")
        client.set_model_version_tag(name, version.version, "incomplete.reason", reason)
        client.set_model_version_tag(name, version.version, "incomplete.at", now)
        found.incomplete_versions.append(str(version.version))
    return found
