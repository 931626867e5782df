"""Guardrail hooks over real HTTP: every plugin's before- and after-call hooks around every
tool call of every plugin, in a fixed order, timed, and failing closed.

A ``guard`` plugin (no tools of its own) guards the ``shop`` plugin's tools: it refuses by
rule, rewrites arguments, and, on request, raises or hangs, to prove a broken guardrail refuses
the call instead of letting it through. A ``redact`` plugin is the reference's example, which
redacts e-mail addresses from every result.
"""

from __future__ import annotations

import json

import pytest
from conftest import TEST_PLUGINS
from test_docs import REFERENCE, blocks


def redaction_example() -> str:
    """The e-mail redacting guardrail exactly as the reference shows it."""
    (example,) = [s.body for s in blocks(REFERENCE) if "def redact_emails" in s.body]
    return example


def install(make_dist) -> None:
    make_dist("acme-shop", TEST_PLUGINS / "guardrails_shop.py", namespace="shop")
    make_dist("acme-guard", TEST_PLUGINS / "guardrails_guard.py", namespace="guard")
    make_dist("acme-redact", redaction_example(), namespace="redact")


@pytest.fixture
def host(plughost_factory, make_dist, tmp_path):
    install(make_dist)
    return plughost_factory(
        plugins=["shop", "guard", "redact"],
        settings={
            "guardrail_timeout_seconds": 0.5,
            "audit": {"sink": "file", "file": str(tmp_path / "audit.jsonl")},
        },
        in_process=True,
    )


def audit_records(host) -> list[dict]:
    """The audit trail, once the host has stopped (which flushes it)."""
    host.stop()
    path = host.host.settings.audit.file
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def test_an_after_call_guardrail_redacts_email_addresses(host):
    answer = host.client().call("shop_customer", name="ada")
    assert answer.ok
    assert answer.data == {"name": "ada", "email": "[redacted]"}
    assert "example.com" not in json.dumps(answer.body)


def test_a_denial_is_a_403_naming_the_rule(host):
    answer = host.client().call("shop_note", text="secret")
    assert answer.status_code == 403
    error = answer.jsonrpc_error
    assert error["data"]["rule"] == "no-secrets"
    assert "no-secrets" in error["message"]
    assert "www-authenticate" not in answer.headers


def test_a_rewrite_changes_the_arguments_the_tool_gets(host):
    assert host.client().call("shop_note", text="shout").data == {"result": "SHOUT"}


def test_a_dry_run_denial_lets_the_call_through(host):
    assert host.client().call("shop_note", text="audit-only").ok


@pytest.mark.parametrize("text", ["raise", "hang"])
def test_a_guardrail_that_raises_or_hangs_refuses_the_call(host, text):
    answer = host.client().call("shop_note", text=text)
    assert answer.status_code == 403
    assert answer.jsonrpc_error["data"]["rule"] == "guardrail:guard.before_call"
    assert host.client().call("shop_note", text="fine").ok


def test_guardrail_time_is_measured_per_plugin_and_hook(host):
    host.client().call("shop_note", text="fine")
    metrics = host.host.metrics.exposition()[0].decode()
    assert 'plughost_guardrail_seconds_count{hook="before_call",plugin="guard"}' in metrics
    assert 'plughost_guardrail_seconds_count{hook="after_call",plugin="redact"}' in metrics


def test_refusals_and_dry_runs_are_audited_with_the_rule(host):
    client = host.client()
    client.call("shop_note", text="secret")
    client.call("shop_note", text="audit-only")
    client.call("shop_note", text="raise")
    denied, watched, failed = audit_records(host)
    assert (denied["outcome"], denied["detail"]) == (
        "denied",
        "rule no-secrets: notes may not say secret",
    )
    assert watched["outcome"] == "ok"
    assert "dry run: rule watch would deny" in watched["detail"]
    assert failed["outcome"] == "denied"
    assert "guardrail guard.sync_misbehaviour failed" in failed["detail"]


def test_guardrails_also_run_for_calls_through_the_transport(plughost_factory, make_dist):
    install(make_dist)
    host = plughost_factory(
        plugins=["shop", "guard", "redact"], settings={"fast_path": False}, in_process=True
    )
    client = host.client()
    assert client.call("shop_note", text="secret").jsonrpc_error["data"]["rule"] == "no-secrets"
    assert client.call("shop_customer", name="ada").data["email"] == "[redacted]"
