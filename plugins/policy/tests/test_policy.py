"""The policy over real HTTP: first matching rule decides, by tool, plugin, caller claims and
argument values; a denial is a 403 naming the rule; dry run only audits; a broken file denies
every call."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from plughost_policy import PolicyError, read_policy

POLICY = """
default = "allow"

[[rules]]
id = "sre-may-release-to-prod"
effect = "allow"
tools = ["deploy_release"]
caller = { groups = ["sre"] }

[[rules]]
id = "prod-is-for-sre"
effect = "deny"
tools = ["deploy_*"]
arguments = { environment = ["prod*"] }
reason = "only SRE deploys to production"

[[rules]]
id = "no-big-deploys-for-contractors"
effect = "deny"
plugins = ["deploy"]
caller = { client = ["contractor-*"] }
arguments = { replicas = [10, 20] }

[[rules]]
id = "tenant-globex-read-only"
effect = "deny"
tools = ["deploy_release"]
caller = { tenant = ["globex"] }
"""


def start(plughost_factory, tmp_path: Path, policy: str, **settings):
    path = tmp_path / "policy.toml"
    path.write_text(policy)
    audit = tmp_path / "audit.jsonl"
    return plughost_factory(
        plugins=["deploy", "policy"],
        settings={
            "plugins": {"policy": {"file": str(path), **settings}},
            "auth": {"passthrough_claims": ["groups"]},
            "audit": {"sink": "file", "file": str(audit)},
        },
    )


def client(host, **claims):
    return host.client(token=host.token(["deploy:run", "deploy:read"], **claims))


def audit_records(host) -> list[dict]:
    host.stop()
    path = host.host.settings.audit.file
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def test_the_first_matching_rule_decides(plughost_factory, deploy_plugin, tmp_path):
    host = start(plughost_factory, tmp_path, POLICY)
    dev = client(host, groups=["dev"])
    refused = dev.call("deploy_release", app="shop", environment="production")
    assert refused.status_code == 403
    assert refused.jsonrpc_error["data"]["rule"] == "prod-is-for-sre"
    assert "only SRE deploys" in refused.jsonrpc_error["message"]
    assert dev.call("deploy_release", app="shop", environment="staging").ok
    sre = client(host, groups=["dev", "sre"])
    assert sre.call("deploy_release", app="shop", environment="production").ok


def test_rules_match_client_tenant_and_argument_values(plughost_factory, deploy_plugin, tmp_path):
    host = start(plughost_factory, tmp_path, POLICY)
    contractor = host.client(
        token=host.token(["deploy:run"], client_id="contractor-7", groups=["dev"])
    )
    big = contractor.call("deploy_release", app="a", environment="qa", replicas=10)
    assert big.jsonrpc_error["data"]["rule"] == "no-big-deploys-for-contractors"
    assert contractor.call("deploy_release", app="a", environment="qa", replicas=3).ok
    globex = client(host, tenant="globex")
    assert globex.call("deploy_release", app="a", environment="qa").status_code == 403
    assert globex.call("deploy_status", app="a").ok


def test_denials_are_audited_with_the_rule(plughost_factory, deploy_plugin, tmp_path):
    host = start(plughost_factory, tmp_path, POLICY)
    client(host).call("deploy_release", app="shop", environment="prod")
    (record,) = audit_records(host)
    assert record["outcome"] == "denied"
    assert record["detail"].startswith("rule prod-is-for-sre:")


def test_dry_run_audits_what_it_would_deny(plughost_factory, deploy_plugin, tmp_path):
    host = start(plughost_factory, tmp_path, POLICY, dry_run=True)
    assert client(host).call("deploy_release", app="shop", environment="prod").ok
    (record,) = audit_records(host)
    assert record["outcome"] == "ok"
    assert "dry run: rule prod-is-for-sre would deny" in record["detail"]


def test_a_default_deny_refuses_what_no_rule_allows(plughost_factory, deploy_plugin, tmp_path):
    policy = 'default = "deny"\n[[rules]]\nid = "reads"\neffect = "allow"\ntools = ["*_status"]\n'
    host = start(plughost_factory, tmp_path, policy)
    assert client(host).call("deploy_status", app="a").ok
    refused = client(host).call("deploy_release", app="a", environment="qa")
    assert refused.jsonrpc_error["data"]["rule"] == "policy:default"


def test_an_invalid_policy_file_denies_every_call(plughost_factory, deploy_plugin, tmp_path):
    host = start(plughost_factory, tmp_path, '[[rules]]\nid = "x"\neffect = "maybe"\n')
    refused = client(host).call("deploy_status", app="a")
    assert refused.status_code == 403
    assert refused.jsonrpc_error["data"]["rule"] == "policy:invalid"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("rules = [", "not valid TOML"),
        ('[[rules]]\nid = "x"\neffect = "maybe"\n', "rules.0.effect"),
        ('[[rules]]\nid = "x"\neffect = "deny"\ntool = ["a"]\n', "rules.0.tool"),
        ('[[rules]]\nid = "x"\neffect = "deny"\n[[rules]]\nid = "x"\neffect = "allow"\n', "unique"),
    ],
)
def test_policy_file_errors_name_the_problem(tmp_path, text, message):
    path = tmp_path / "policy.toml"
    path.write_text(text)
    with pytest.raises(PolicyError, match=message):
        read_policy(path)
