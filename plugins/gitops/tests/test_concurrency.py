"""Two changes of one app at once on ONE replica: one lands, the other is a conflict.

Across replicas the remote's push check refuses the second writer (`test_replicas.py`); on one
replica the calls take turns on the clone, so without a check of its own the second would wait,
build on the first's result and push over it, and both agents would be told "ok".
"""

from __future__ import annotations

import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from conftest import ALL, assert_clean, clone_of, git

from plughost.testing import ToolCall

WAIT_SECONDS = 10


def hold_the_first_commit(host: Any, tmp_path: Path) -> Path:
    """Make the first change that commits wait, before its push, until ``release`` exists.

    A post-commit hook in the replica's clone (set in the clone's own config, so a machine-wide
    hooks path cannot hide it) waits for the file this returns, at most WAIT_SECONDS. The test
    creates it once the other call has its answer, so the two calls certainly overlap.
    """
    release = tmp_path / "release"
    hooks = tmp_path / "held-hooks"
    hooks.mkdir()
    hook = hooks / "post-commit"
    hook.write_text(
        f"#!{sys.executable}\n"
        "import pathlib, time\n"
        f"release = pathlib.Path({str(release)!r})\n"
        f"deadline = time.monotonic() + {WAIT_SECONDS}\n"
        "while not release.exists() and time.monotonic() < deadline:\n"
        "    time.sleep(0.01)\n"
    )
    hook.chmod(0o755)
    git(clone_of(host), "config", "core.hooksPath", str(hooks))
    return release


def change_together(host: Any, release: Path, calls: list[tuple[str, dict[str, str]]]) -> list:
    """Start every call at the same moment; a refused call releases the held one."""
    barrier = threading.Barrier(len(calls))

    def run(call: tuple[str, dict[str, str]]) -> ToolCall:
        client = host.client(ALL)
        barrier.wait()
        answer = client.call(call[0], **call[1])
        if not answer.ok:
            release.touch()
        return answer

    with ThreadPoolExecutor(len(calls)) as pool:
        return list(pool.map(run, calls))


def test_two_deploys_of_one_app_on_one_replica_one_lands_one_conflicts(host, remote, tmp_path):
    assert host.client(ALL).call("gitops_list_environments").ok
    count = remote.count()
    release = hold_the_first_commit(host, tmp_path)
    deploys = [
        ("gitops_deploy", {"environment": "dev", "app": "api", "version": v, "reason": "race"})
        for v in ("1.2.0", "1.3.0")
    ]
    results = change_together(host, release, deploys)

    (landed,) = [r.data for r in results if r.ok]
    (refused,) = [r.error for r in results if not r.ok]
    assert refused["code"] == "conflict", refused
    assert "api in dev is being changed by another call" in refused["message"]
    assert refused["details"] == {"environment": "dev", "app": "api"}
    assert remote.count() == count + 1
    assert remote.head() == landed["commit"]
    assert remote.manifest("dev", "api")["version"] == landed["version"]
    assert_clean(host, remote)

    after = host.client(ALL).call(
        "gitops_deploy", environment="dev", app="api", version="1.4.0", reason="after"
    )
    assert after.ok and after.data["previous_version"] == landed["version"], after.body


def test_a_rollback_during_a_deploy_of_the_same_app_is_a_conflict(host, remote, tmp_path):
    count = remote.count()
    release = hold_the_first_commit(host, tmp_path)
    calls = [
        ("gitops_deploy", {"environment": "dev", "app": "api", "version": "1.2.0", "reason": "r"}),
        ("gitops_rollback", {"environment": "dev", "app": "api", "reason": "r"}),
    ]
    results = change_together(host, release, calls)
    assert sorted(r.ok for r in results) == [False, True], [r.body for r in results]
    assert [r.error["code"] for r in results if not r.ok] == ["conflict"]
    assert remote.count() == count + 1


def test_changes_of_other_apps_on_one_replica_still_all_land(host, remote, tmp_path):
    count = remote.count()
    deploys = [
        ("gitops_deploy", {"environment": env, "app": app, "version": "9.0.0", "reason": "wave"})
        for env in ("dev", "staging")
        for app in ("api", "web")
    ]
    results = change_together(host, tmp_path / "unused", deploys)
    assert all(r.ok for r in results), [r.body for r in results]
    assert remote.count() == count + len(deploys)
