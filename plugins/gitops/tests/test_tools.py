"""Each gitops tool through a real host (real tokens, real HTTP) against a real git remote."""

from __future__ import annotations

from datetime import UTC, datetime

import yaml
from conftest import ALL, PROTECTED, assert_clean, manifest


def test_list_environments_shows_what_runs_where(host, remote):
    listing = host.client(["gitops:read"]).call("gitops_list_environments")
    assert listing.ok, listing.body
    assert listing.data["commit"] == remote.head()
    envs = {e["name"]: e for e in listing.data["environments"]}
    assert sorted(envs) == ["dev", "production", "staging"]
    assert [e["protected"] for e in listing.data["environments"]] == [False, True, False]
    dev = {a["app"]: a["version"] for a in envs["dev"]["apps"]}
    assert dev == {"api": "1.1.0", "batch": "0.0.1", "web": "2.0.0", "worker": "0.1.0"}
    prod_api = next(a for a in envs["production"]["apps"] if a["app"] == "api")
    assert prod_api == {"app": "api", "image": "registry.example.com/acme/api", "version": "1.0.0"}


def test_get_app_shows_manifest_and_history(host, remote):
    got = host.client(["gitops:read"]).call("gitops_get_app", environment="dev", app="api")
    assert got.ok, got.body
    app = got.data
    assert (app["version"], app["image"], app["protected"]) == (
        "1.1.0",
        "registry.example.com/acme/api",
        False,
    )
    assert app["manifest"] == manifest("api", "1.1.0")
    history = app["history"]
    assert [h["version"] for h in history] == ["1.1.0", "1.0.0"]
    assert [h["message"] for h in history] == ["api 1.1.0 to dev", "initial state"]
    assert (
        history[0]["commit"]
        == remote.git("log", "-1", "--format=%H", "--", "environments/dev/api.yaml").strip()
    )
    assert history[0]["author"] == "Other Writer"
    assert datetime.fromisoformat(history[0]["time"]) <= datetime.now(UTC)


def test_history_is_limited_by_setting(plughost_factory, remote, writer):
    for version in ("1.2.0", "1.3.0", "1.4.0"):
        writer.set("dev", "api", version=version)
    host = plughost_factory(plugins=["gitops"], settings=remote.settings(history_limit=2))
    history = host.client(["gitops:read"]).call("gitops_get_app", environment="dev", app="api")
    assert [h["version"] for h in history.data["history"]] == ["1.4.0", "1.3.0"]


def test_diff_says_which_apps_differ_and_how(host, writer):
    writer.set("staging", "web", image="registry.example.com/acme/web-next", replicas=4)
    call = host.client(["gitops:read"]).call(
        "gitops_diff", from_environment="dev", to_environment="staging"
    )
    assert call.ok, call.body
    result = call.data
    assert result["identical"] == ["api", "worker"]
    by_app = {d["app"]: d for d in result["differences"]}
    assert by_app["batch"]["status"] == "only_in_from"
    assert by_app["batch"]["to_version"] is None
    web = by_app["web"]
    assert web["status"] == "changed"
    assert (web["from_version"], web["to_version"]) == ("2.0.0", "2.0.0")
    assert web["to_image"] == "registry.example.com/acme/web-next"
    assert web["changed_keys"] == ["image", "replicas"]

    reverse = host.client(["gitops:read"]).call(
        "gitops_diff", from_environment="production", to_environment="dev"
    )
    by_app = {d["app"]: d for d in reverse.data["differences"]}
    assert by_app["batch"]["status"] == "only_in_to"
    assert (by_app["api"]["from_version"], by_app["api"]["to_version"]) == ("1.0.0", "1.1.0")
    assert by_app["api"]["changed_keys"] == ["version"]


def test_deploy_commits_and_pushes_with_who_and_why(plughost_factory, remote):
    host = plughost_factory(plugins=["gitops"], settings=remote.settings())
    before = remote.head()
    token = host.token(ALL, subject="alice@example.com", client_id="release-bot")
    agent = host.client(token=token)
    call = agent.call(
        "gitops_deploy", environment="staging", app="web", version="2.1.0", reason="JIRA-12 rollout"
    )
    assert call.ok, call.body
    result = call.data
    assert result["changed"] is True
    assert (result["version"], result["previous_version"]) == ("2.1.0", "2.0.0")
    assert result["commit"] == remote.head()
    assert remote.parent() == before
    assert remote.files_changed() == ["environments/staging/web.yaml"]
    assert remote.manifest("staging", "web") == manifest("web", "2.1.0")
    subject, _, trailers = remote.message().partition("\n\n")
    assert subject == "deploy web 2.1.0 to staging"
    assert "Requested-by: alice@example.com\n" in trailers
    assert "Client: release-bot\nTenant: tenant-a\n" in trailers
    assert "Reason: JIRA-12 rollout" in trailers
    assert remote.git("log", "-1", "--format=%an <%ae>").strip() == (
        "Deploy Bot <deploy-bot@example.com>"
    )
    assert_clean(host, remote)

    seen = agent.call("gitops_get_app", environment="staging", app="web").data
    assert seen["version"] == "2.1.0"
    assert seen["history"][0]["commit"] == result["commit"]


def test_deploy_keeps_unknown_keys_and_their_order(host, remote, writer):
    text = "version: 1.1.0\nnotes: keep me\nimage: registry.example.com/acme/api\nreplicas: 3\n"
    writer.write("dev", "api", text, "hand-written manifest")
    call = host.client(ALL).call(
        "gitops_deploy", environment="dev", app="api", version="v1.2.0-rc.1+build.7", reason="rc"
    )
    assert call.ok, call.body
    written = remote.git("show", "main:environments/dev/api.yaml")
    assert list(yaml.safe_load(written)) == ["version", "notes", "image", "replicas"]
    assert yaml.safe_load(written) == {**yaml.safe_load(text), "version": "v1.2.0-rc.1+build.7"}


def test_deploying_the_current_version_changes_nothing(host, remote):
    before = remote.head()
    call = host.client(ALL).call(
        "gitops_deploy", environment="dev", app="api", version="1.1.0", reason="again"
    )
    assert call.ok, call.body
    assert call.data["changed"] is False
    assert call.data["commit"] is None
    assert "nothing was changed" in call.data["message"]
    assert remote.head() == before
    assert_clean(host, remote)


def test_reads_see_what_another_writer_pushed(host, writer):
    reader = host.client(["gitops:read"])
    assert reader.call("gitops_get_app", environment="dev", app="web").data["version"] == "2.0.0"
    commit = writer.set("dev", "web", version="2.5.0")
    got = reader.call("gitops_get_app", environment="dev", app="web").data
    assert (got["version"], got["commit"]) == ("2.5.0", commit)
    writer.set("dev", "cron", version="0.3.0")
    apps = reader.call("gitops_list_environments").data["environments"][0]["apps"]
    assert {"app": "cron", "image": "registry.example.com/acme/cron", "version": "0.3.0"} in apps


def test_deploy_on_top_of_another_writers_change_keeps_it(host, remote, writer):
    writer.set("dev", "api", replicas=5)
    call = host.client(ALL).call(
        "gitops_deploy", environment="dev", app="api", version="1.2.0", reason="go"
    )
    assert call.ok, call.body
    assert remote.manifest("dev", "api")["replicas"] == 5


def test_rollback_to_previous_version_is_a_new_commit(host, remote):
    set_at = remote.git("log", "-1", "--format=%H", "--", "environments/dev/api.yaml").strip()
    agent = host.client(ALL)
    deployed = agent.call(
        "gitops_deploy", environment="dev", app="api", version="1.2.0", reason="release"
    ).data
    count = remote.count()
    call = agent.call("gitops_rollback", environment="dev", app="api", reason="errors spiking")
    assert call.ok, call.body
    result = call.data
    assert (result["version"], result["previous_version"]) == ("1.1.0", "1.2.0")
    assert result["changed"] is True
    assert result["commit"] == remote.head()
    assert remote.count() == count + 1
    assert remote.parent() == deployed["commit"]
    assert remote.manifest("dev", "api") == manifest("api", "1.1.0")
    assert result["restored_from"] == set_at
    message = remote.message()
    assert message.startswith("rollback api to 1.1.0 in dev\n\n")
    assert f"Restores: {result['restored_from']}\n" in message
    assert "Reason: errors spiking" in message
    assert_clean(host, remote)


def test_rollback_to_a_named_commit(host, remote, writer):
    old = writer.set("dev", "web", version="2.1.0", image="registry.example.com/acme/web-v2")
    writer.set("dev", "web", version="2.2.0", image="registry.example.com/acme/web")
    writer.set("dev", "web", version="2.3.0")
    agent = host.client(ALL)
    call = agent.call(
        "gitops_rollback", environment="dev", app="web", to_commit=old[:10].upper(), reason="bad"
    )
    assert call.ok, call.body
    assert call.data["restored_from"] == old
    restored = remote.manifest("dev", "web")
    assert (restored["version"], restored["image"]) == ("2.1.0", "registry.example.com/acme/web-v2")

    again = agent.call("gitops_rollback", environment="dev", app="web", to_commit=old, reason="x")
    assert again.ok and again.data["changed"] is False
    assert remote.head() == call.data["commit"]


def test_rollback_without_earlier_version_is_not_found(host, remote):
    before = remote.head()
    call = host.client(PROTECTED).call(
        "gitops_rollback", environment="production", app="api", reason="nothing to go back to"
    )
    assert call.error["code"] == "not_found", call.body
    assert "no earlier version" in call.error["message"]
    assert remote.head() == before


def test_protected_environment_needs_the_protected_scope(host, remote):
    assert host.client(["gitops:read"]).call("gitops_list_environments").ok
    before = remote.head()
    for tool, args in [
        ("gitops_deploy", {"version": "1.1.0"}),
        ("gitops_rollback", {}),
    ]:
        call = host.client(ALL).call(
            tool, environment="production", app="api", reason="ship it", **args
        )
        assert call.status_code == 403, call.body
        challenge = call.headers["www-authenticate"]
        assert 'error="insufficient_scope"' in challenge
        assert "gitops:deploy:protected" in challenge.split('scope="')[1].split('"')[0]
        assert call.missing_scopes == ["gitops:deploy:protected"]
    assert remote.head() == before
    assert_clean(host, remote)

    allowed = host.client(PROTECTED).call(
        "gitops_deploy",
        environment="production",
        app="api",
        version="1.1.0",
        reason="ship it",
        confirm=True,
    )
    assert allowed.ok, allowed.body
    assert remote.manifest("production", "api")["version"] == "1.1.0"
    rolled = host.client(["gitops:rollback", "gitops:deploy:protected"]).call(
        "gitops_rollback", environment="production", app="api", reason="revert", confirm=True
    )
    assert rolled.ok, rolled.body
    assert remote.manifest("production", "api")["version"] == "1.0.0"


def test_protected_environments_are_configurable(plughost_factory, remote):
    host = plughost_factory(
        plugins=["gitops"], settings=remote.settings(protected_environments="staging, production")
    )
    envs = host.client(ALL).call("gitops_list_environments").data["environments"]
    assert {e["name"]: e["protected"] for e in envs} == {
        "dev": False,
        "production": True,
        "staging": True,
    }
    call = host.client(ALL).call(
        "gitops_deploy", environment="staging", app="api", version="1.2.0", reason="r"
    )
    assert call.status_code == 403
    assert call.missing_scopes == ["gitops:deploy:protected"]


def test_scopes_are_enforced_by_the_host(host, remote):
    before = remote.head()
    reader = host.client(["gitops:read"])
    refused = reader.call(
        "gitops_deploy", environment="dev", app="api", version="1.2.0", reason="sneaky"
    )
    assert refused.status_code == 403
    challenged = refused.headers["www-authenticate"].split('scope="')[1].split('"')[0]
    assert "gitops:deploy" in challenged.split()
    assert refused.missing_scopes == ["gitops:deploy"]
    deployer = host.client(["gitops:deploy"])
    refused = deployer.call("gitops_rollback", environment="dev", app="api", reason="sneaky")
    assert refused.status_code == 403 and refused.missing_scopes == ["gitops:rollback"]
    assert remote.head() == before
    assert sorted(reader.tool_names()) == [
        "gitops_diff",
        "gitops_get_app",
        "gitops_list_environments",
    ]
    assert sorted(deployer.tool_names()) == ["gitops_deploy"]


def test_allowed_tenants_keep_other_organisations_out(plughost_factory, remote):
    host = plughost_factory(plugins=["gitops"], settings=remote.settings(allowed_tenants="acme"))
    assert host.client(ALL, tenant="acme").call("gitops_list_environments").ok
    other = host.client(ALL, tenant="globex")
    assert other.call("gitops_list_environments").error["code"] == "forbidden"
    before = remote.head()
    call = other.call("gitops_deploy", environment="dev", app="api", version="9.9.9", reason="x")
    assert call.error["code"] == "forbidden"
    assert remote.head() == before
