"""Bad input, a broken or unreachable remote: a clear tool error, and the repository untouched."""

from __future__ import annotations

import socket
import stat

import pytest
from conftest import ALL, PROTECTED, assert_clean, clone_of, git

from plughost.testing import SettingsError

DEPLOY = {"environment": "dev", "app": "api", "version": "1.2.0", "reason": "release"}
ROLLBACK = {"environment": "dev", "app": "api", "reason": "revert"}
GET = {"environment": "dev", "app": "api"}


@pytest.mark.parametrize(
    ("tool", "args", "code"),
    [
        ("gitops_get_app", {**GET, "environment": "qa"}, "not_found"),
        ("gitops_get_app", {**GET, "app": "billing"}, "not_found"),
        ("gitops_get_app", {**GET, "environment": "../dev"}, "invalid_input"),
        ("gitops_get_app", {**GET, "app": "../../README"}, "invalid_input"),
        ("gitops_diff", {"from_environment": "dev", "to_environment": "qa"}, "not_found"),
        ("gitops_diff", {"from_environment": "..", "to_environment": "dev"}, "invalid_input"),
        ("gitops_deploy", {**DEPLOY, "environment": "qa"}, "not_found"),
        ("gitops_deploy", {**DEPLOY, "app": "billing"}, "not_found"),
        ("gitops_deploy", {**DEPLOY, "environment": "../production"}, "invalid_input"),
        ("gitops_deploy", {**DEPLOY, "environment": "dev/"}, "invalid_input"),
        ("gitops_deploy", {**DEPLOY, "app": "api/../web"}, "invalid_input"),
        ("gitops_deploy", {**DEPLOY, "app": "API"}, "invalid_input"),
        ("gitops_deploy", {**DEPLOY, "app": "-rf"}, "invalid_input"),
        ("gitops_deploy", {**DEPLOY, "version": "latest"}, "invalid_input"),
        ("gitops_deploy", {**DEPLOY, "version": "1.2"}, "invalid_input"),
        ("gitops_deploy", {**DEPLOY, "version": "1.2.3; rm -rf /"}, "invalid_input"),
        ("gitops_deploy", {**DEPLOY, "version": "1.2.3\nReason: x"}, "invalid_input"),
        ("gitops_deploy", {**DEPLOY, "version": "\u0661.\u0662.\u0663"}, "invalid_input"),
        ("gitops_deploy", {**DEPLOY, "reason": ""}, "invalid_input"),
        ("gitops_deploy", {**DEPLOY, "reason": "  \t "}, "invalid_input"),
        ("gitops_deploy", {**DEPLOY, "reason": "ok\nRequested-by: ceo"}, "invalid_input"),
        ("gitops_deploy", {**DEPLOY, "reason": "x" * 501}, "invalid_input"),
        ("gitops_rollback", {**ROLLBACK, "app": "billing"}, "not_found"),
        ("gitops_rollback", {**ROLLBACK, "reason": " "}, "invalid_input"),
        ("gitops_rollback", {**ROLLBACK, "to_commit": "HEAD~1"}, "invalid_input"),
        ("gitops_rollback", {**ROLLBACK, "to_commit": "--all"}, "invalid_input"),
        ("gitops_rollback", {**ROLLBACK, "to_commit": "abc"}, "invalid_input"),
        ("gitops_rollback", {**ROLLBACK, "to_commit": "deadbeefdeadbeef"}, "not_found"),
    ],
)
def test_bad_input_is_a_clear_error_and_changes_nothing(host, remote, tool, args, code):
    assert host.client(["gitops:read"]).call("gitops_list_environments").ok
    before = remote.head()
    call = host.client(PROTECTED).call(tool, **args)
    assert call.status_code == 200
    assert call.error is not None, call.body
    assert call.error["code"] == code, call.error
    assert call.error["message"]
    assert remote.head() == before
    assert_clean(host, remote)


def test_rollback_to_a_commit_off_the_branch_or_without_the_app(host, remote, writer):
    initial = remote.git("rev-list", "--max-parents=0", "main").strip()
    writer.set("dev", "cron", version="0.3.0")
    git(writer.path, "commit", "-q", "--allow-empty", "-m", "side work")
    git(writer.path, "push", "-q", "origin", "HEAD:refs/heads/side")
    side = remote.git("rev-parse", "side").strip()
    before = remote.head()
    agent = host.client(ALL)

    off_branch = agent.call("gitops_rollback", **ROLLBACK, to_commit=side)
    assert off_branch.error["code"] == "not_found"
    assert "not on branch main" in off_branch.error["message"]
    missing = agent.call(
        "gitops_rollback", environment="dev", app="cron", reason="r", to_commit=initial
    )
    assert missing.error["code"] == "not_found"
    assert "no usable manifest" in missing.error["message"]
    assert remote.head() == before
    assert_clean(host, remote)


def test_unreachable_remote_is_a_clear_error(plughost_factory, tmp_path):
    missing = tmp_path / "no-such-repo.git"
    host = plughost_factory(
        plugins=["gitops"], settings={"plugins": {"gitops": {"repo_url": str(missing)}}}
    )
    agent = host.client(PROTECTED)
    for tool, args in [("gitops_list_environments", {}), ("gitops_deploy", DEPLOY)]:
        call = agent.call(tool, **args)
        assert call.error["code"] == "remote_unavailable", call.body
        assert str(missing) in call.error["message"]
        assert "nothing was changed" in call.error["message"]
    assert not missing.exists()
    assert git(clone_of(host), "status", "--porcelain", "--ignored") == ""


def test_remote_going_away_and_coming_back(host, remote, writer):
    agent = host.client(ALL)
    assert agent.call("gitops_list_environments").ok
    away = remote.path.with_name("moved.git")
    remote.path.rename(away)
    call = agent.call("gitops_deploy", **DEPLOY)
    assert call.error["code"] == "remote_unavailable", call.body
    away.rename(remote.path)
    assert_clean(host, remote)
    writer.set("dev", "web", version="2.9.0")
    assert agent.call("gitops_get_app", environment="dev", app="web").data["version"] == "2.9.0"
    assert agent.call("gitops_deploy", **DEPLOY).ok


def test_credentials_in_the_url_never_reach_the_agent(plughost_factory):
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    url = f"https://deployer:s3cret-token@127.0.0.1:{port}/acme/gitops.git"
    host = plughost_factory(plugins=["gitops"], settings={"plugins": {"gitops": {"repo_url": url}}})
    call = host.client(ALL).call("gitops_list_environments")
    assert call.error["code"] == "remote_unavailable", call.body
    assert "s3cret" not in str(call.body)
    assert f"https://***@127.0.0.1:{port}/acme/gitops.git" in call.error["message"]


def test_a_remote_that_never_answers_is_cut_off(plughost_factory):
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        port = silent.getsockname()[1]
        settings = {"repo_url": f"https://127.0.0.1:{port}/gitops.git", "git_timeout_seconds": 1}
        host = plughost_factory(plugins=["gitops"], settings={"plugins": {"gitops": settings}})
        call = host.client(ALL).call("gitops_list_environments")
    assert call.error["code"] == "remote_unavailable", call.body
    assert "took longer than 1s" in call.error["message"]


def test_push_refused_by_the_remote_is_an_error_not_a_retry(host, remote):
    hooks = remote.path / "hooks"
    hook = hooks / "pre-receive"
    hook.write_text("#!/bin/sh\necho 'main is frozen for the release' >&2\nexit 1\n")
    hook.chmod(hook.stat().st_mode | stat.S_IXUSR)
    remote.git("config", "core.hooksPath", str(hooks))
    before = remote.head()
    call = host.client(ALL).call("gitops_deploy", **DEPLOY)
    assert call.error["code"] == "git_error", call.body
    message = call.error["message"]
    assert "refused the push: main is frozen for the release; [remote rejected]" in message
    assert remote.head() == before
    assert_clean(host, remote)


def test_a_push_that_hangs_is_cut_off_and_leaves_no_stray_commit(plughost_factory, remote):
    hooks = remote.path / "hooks"
    hook = hooks / "pre-receive"
    hook.write_text("#!/bin/sh\nsleep 600\n")
    hook.chmod(0o755)
    remote.git("config", "core.hooksPath", str(hooks))
    settings = remote.settings(git_timeout_seconds=5)
    host = plughost_factory(plugins=["gitops"], settings=settings)
    before = remote.head()
    call = host.client(ALL).call("gitops_deploy", **DEPLOY)
    assert call.error["code"] == "git_error", call.body
    assert "git push took longer than 5s" in call.error["message"]
    assert remote.head() == before
    assert_clean(host, remote)


@pytest.mark.parametrize("text", ["version: [1.2\n", "just text\n", "image: x\nversion: 1.5\n"])
def test_a_broken_manifest_is_reported_with_its_path(host, remote, writer, text):
    writer.write("dev", "api", text, "broken by hand")
    before = remote.head()
    agent = host.client(ALL)
    for tool, args in [("gitops_get_app", GET), ("gitops_deploy", DEPLOY)]:
        call = agent.call(tool, **args)
        assert call.error["code"] == "invalid_manifest", call.body
        assert "environments/dev/api.yaml" in call.error["message"]
    assert remote.head() == before
    assert_clean(host, remote)
    neighbour = agent.call("gitops_get_app", environment="dev", app="web")
    assert neighbour.ok, neighbour.body
    listing = agent.call("gitops_list_environments")
    assert listing.error["code"] == "invalid_manifest"


def test_symbolic_links_in_the_repository_are_not_followed(host, remote, writer, tmp_path):
    outside = tmp_path / "outside.yaml"
    outside.write_text("image: registry.example.com/acme/secret\nversion: 6.6.6\n")
    (writer.path / "environments" / "dev" / "evil.yaml").symlink_to(outside)
    (writer.path / "environments" / "elsewhere").symlink_to(tmp_path)
    writer.set("dev", "web", "links", version="2.0.1")
    agent = host.client(ALL)
    envs = agent.call("gitops_list_environments").data["environments"]
    assert [e["name"] for e in envs] == ["dev", "production", "staging"]
    assert "evil" not in [a["app"] for a in envs[0]["apps"]]
    call = agent.call("gitops_deploy", **{**DEPLOY, "app": "evil"})
    assert call.error["code"] == "not_found", call.body
    assert outside.read_text().endswith("version: 6.6.6\n")
    assert_clean(host, remote)


@pytest.mark.parametrize(
    ("setting", "value", "variable"),
    [
        ("protected_environments", "production,../etc", "PROTECTED_ENVIRONMENTS"),
        ("repo_url", "--upload-pack=touch /tmp/pwned", "REPO_URL"),
        ("root", "../outside", "ROOT"),
        ("branch", "-main", "BRANCH"),
        ("history_limit", 0, "HISTORY_LIMIT"),
        ("colour", "blue", "COLOUR"),
    ],
)
def test_bad_settings_stop_startup(plughost_factory, setting, value, variable):
    with pytest.raises(SettingsError, match=f"PLUGHOST_PLUGINS__GITOPS__{variable}"):
        plughost_factory(plugins=["gitops"], settings={"plugins": {"gitops": {setting: value}}})


HUGE = "a" * 900_000


@pytest.mark.parametrize(
    ("tool", "args", "field"),
    [
        ("gitops_get_app", {**GET, "app": HUGE}, "app"),
        ("gitops_diff", {"from_environment": HUGE, "to_environment": "dev"}, "from_environment"),
        ("gitops_deploy", {**DEPLOY, "environment": HUGE}, "environment"),
        ("gitops_deploy", {**DEPLOY, "version": "1.2.3-" + HUGE}, "version"),
        ("gitops_deploy", {**DEPLOY, "reason": HUGE}, "reason"),
        ("gitops_rollback", {**ROLLBACK, "to_commit": HUGE}, "to_commit"),
        ("gitops_rollback", {**ROLLBACK, "app": "api\x00"}, "app"),
    ],
)
def test_over_long_input_is_refused_without_being_echoed(host, remote, tool, args, field):
    before = remote.head()
    call = host.client(PROTECTED).call(tool, **args)
    assert call.status_code == 200, call.body
    assert call.result.get("isError"), call.body
    assert call.error["code"] in (None, "invalid_input"), call.body
    assert field in call.text
    assert len(str(call.body)) < 2_000
    assert remote.head() == before
