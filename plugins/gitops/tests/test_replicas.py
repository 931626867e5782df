"""Several host replicas, each with its own clone of one remote; and the dev default remote."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from importlib.metadata import version as dist_version
from pathlib import Path
from typing import Any

import pytest
from conftest import ALL, PROTECTED, assert_clean, clone_of, git


@pytest.fixture
def replicas(plughost_factory, remote, tmp_path):
    """Two hosts with their own data directories (so their own clones) sharing one remote."""
    return tuple(
        plughost_factory(plugins=["gitops"], settings=remote.settings(), data_dir=tmp_path / name)
        for name in ("replica-a", "replica-b")
    )


def interleave(a: Any, b: Any, tmp_path: Path, **deploy: str) -> Path:
    """Have replica B deploy between replica A's commit and A's push: the window of a race.

    A post-commit hook in A's clone calls B over HTTP, once. It is set in the clone's own
    config, so a machine-wide hooks path cannot hide it. B's answer is written to the file
    returned; A's push then starts from a head the remote has already moved past.
    """
    report = tmp_path / "replica-b-answer.json"
    hooks = tmp_path / "replica-a-hooks"
    hooks.mkdir()
    hook = hooks / "post-commit"
    hook.write_text(
        f"#!{sys.executable}\n"
        "import json, pathlib\n"
        "from plughost.testing import McpClient\n"
        f"report = pathlib.Path({str(report)!r})\n"
        "if not report.exists():\n"
        "    report.write_text('{}')\n"
        f"    client = McpClient({b.mcp_url!r}, {b.token(ALL)!r})\n"
        f"    call = client.call('gitops_deploy', **{deploy!r})\n"
        "    report.write_text(json.dumps(call.data))\n"
    )
    hook.chmod(0o755)
    git(clone_of(a), "config", "core.hooksPath", str(hooks))
    return report


def test_race_on_different_apps_lands_both(replicas, remote, tmp_path):
    a, b = replicas
    assert a.client(ALL).call("gitops_list_environments").ok
    before = remote.head()
    report = interleave(
        a, b, tmp_path, environment="staging", app="web", version="2.1.0", reason="from b"
    )
    call = a.client(ALL).call(
        "gitops_deploy", environment="dev", app="api", version="1.2.0", reason="from a"
    )
    assert call.ok, call.body
    from_b = json.loads(report.read_text())
    assert from_b["changed"] is True, from_b
    assert remote.parent(from_b["commit"]) == before
    assert remote.parent() == from_b["commit"]
    assert remote.head() == call.data["commit"]
    assert remote.files_changed() == ["environments/dev/api.yaml"]
    assert remote.manifest("dev", "api")["version"] == "1.2.0"
    assert remote.manifest("staging", "web")["version"] == "2.1.0"
    assert_clean(a, remote)
    assert_clean(b, remote)


def test_race_on_the_same_app_is_a_conflict_not_a_lost_write(replicas, remote, tmp_path):
    a, b = replicas
    assert a.client(ALL).call("gitops_list_environments").ok
    before = remote.head()
    report = interleave(a, b, tmp_path, environment="dev", app="api", version="1.3.0", reason="b")
    call = a.client(ALL).call(
        "gitops_deploy", environment="dev", app="api", version="1.2.0", reason="from a"
    )
    assert call.error["code"] == "conflict", call.body
    assert call.error["details"] == {"current_version": "1.3.0"}
    from_b = json.loads(report.read_text())
    assert remote.head() == from_b["commit"]
    assert remote.parent() == before
    assert remote.manifest("dev", "api")["version"] == "1.3.0"
    assert_clean(a, remote)
    assert_clean(b, remote)


def run_together(jobs: list[tuple[Any, dict[str, str]]]) -> list[Any]:
    """Start every deploy at the same moment, each from its own thread and client."""
    barrier = threading.Barrier(len(jobs))

    def run(job: tuple[Any, dict[str, str]]) -> Any:
        client = job[0].client(PROTECTED)
        barrier.wait()
        return client.call("gitops_deploy", **job[1])

    with ThreadPoolExecutor(len(jobs)) as pool:
        return list(pool.map(run, jobs))


def test_concurrent_deploys_of_different_apps_all_land(replicas, remote):
    a, b = replicas
    count = remote.count()
    jobs = [
        (host, {"environment": env, "app": app, "version": "9.0.0", "reason": "wave"})
        for host, env in ((a, "dev"), (b, "staging"))
        for app in ("api", "web", "worker")
    ]
    results = run_together(jobs)
    assert all(r.ok for r in results), [r.body for r in results]
    commits = {r.data["commit"] for r in results}
    assert len(commits) == len(jobs)
    assert commits <= set(remote.git("rev-list", "main").split())
    assert remote.count() == count + len(jobs)
    for _, job in jobs:
        assert remote.manifest(job["environment"], job["app"])["version"] == "9.0.0"
    assert_clean(a, remote)
    assert_clean(b, remote)


def test_concurrent_deploys_of_one_app_never_lose_a_write(replicas, remote):
    a, b = replicas
    count = remote.count()
    jobs = [
        (host, {"environment": "dev", "app": "api", "version": version, "reason": "race"})
        for host, version in ((a, "1.2.0"), (a, "1.3.0"), (b, "1.4.0"), (b, "1.5.0"))
    ]
    results = run_together(jobs)
    for result in results:
        assert result.ok or result.error["code"] == "conflict", result.body
    landed = [r.data for r in results if r.ok]
    assert landed and all(r["changed"] for r in landed)
    assert remote.count() == count + len(landed)
    for r in landed:
        assert remote.manifest("dev", "api", r["commit"])["version"] == r["version"]
        assert remote.manifest("dev", "api", f"{r['commit']}^")["version"] == r["previous_version"]
    last = next(r for r in landed if r["commit"] == remote.head())
    assert remote.manifest("dev", "api")["version"] == last["version"]
    assert_clean(a, remote)
    assert_clean(b, remote)


def test_dev_default_is_a_seeded_bare_repository(plughost_factory):
    host = plughost_factory(plugins=["gitops"])
    remote = Path(host.data_dir) / "plugins" / "gitops" / "remote.git"
    assert git(remote, "rev-parse", "--is-bare-repository").strip() == "true"
    agent = host.client(PROTECTED)
    envs = agent.call("gitops_list_environments").data["environments"]
    assert [e["name"] for e in envs] == ["dev", "production", "staging"]
    production = {a["app"]: a["version"] for a in envs[1]["apps"]}
    assert production == {"api": "1.4.2", "web": "2.3.0", "worker": "0.8.1"}

    rolled = agent.call(
        "gitops_rollback", environment="production", app="api", reason="try it", confirm=True
    )
    assert rolled.ok, rolled.body
    assert rolled.data["version"] == "1.4.1"
    host.restart()
    after = host.client(["gitops:read"]).call("gitops_get_app", environment="production", app="api")
    assert after.data["version"] == "1.4.1"
    assert after.data["manifest"]["replicas"] == 2


def test_plughost_plugins_lists_it_with_its_version():
    cli = Path(sys.executable).with_name("plughost")
    out = subprocess.run([cli, "plugins"], capture_output=True, text=True, check=True).stdout
    assert f"plughost-gitops {dist_version('plughost-gitops')}" in out
    assert "gitops_deploy" in out and "gitops:deploy" in out
