"""A plugin that does not load says why, where and what to do: in the load report, in
``plughost plugins`` (non-zero exit, ``--verbose`` tracebacks), in the start-up log and strict
mode, and in the test fixture, which refuses to start a host without a plugin a test named."""

from __future__ import annotations

import logging
import textwrap

import jwt
import pytest
from conftest import simple_plugin
from processes import cli_env, run_cli

from plughost.core.discovery import PluginStatus, discover
from plughost.devissuer.keys import DevIssuer
from plughost.errors import PluginLoadError
from plughost.testing import PluginNotLoaded, ScopeNotDeclared

#: Line 5 reads a setting the environment does not have: the KeyError is raised in ``os``.
BOOM = """\
import os

from plughost import Plugin

PAGER_URL = os.environ["BOOM_PAGER_URL"]

plugin = Plugin(scopes={"boom:read": "Read"})
"""


def load(namespace: str):
    report = discover(host_version="0.1.0", enabled=[namespace])
    return next(r for r in report.records if r.namespace == namespace)


def test_an_import_error_carries_the_exception_the_plugins_line_and_the_traceback(
    make_dist, caplog
):
    module = make_dist("acme-boom", BOOM, namespace="boom")
    with caplog.at_level(logging.WARNING, logger="plughost.core.discovery"):
        record = load("boom")
    assert record.status is PluginStatus.FAILED
    assert record.error == "KeyError: 'BOOM_PAGER_URL'"
    assert record.exception == "KeyError"
    assert record.location == f"{make_dist.root / module}.py:5"
    assert 'PAGER_URL = os.environ["BOOM_PAGER_URL"]' in record.traceback
    (logged,) = [r for r in caplog.records if "boom" in r.getMessage()]
    assert f"(at {record.location})" in logged.getMessage()
    assert "Traceback" in logged.exc_text and "BOOM_PAGER_URL" in logged.exc_text


def test_a_missing_module_says_which_distribution_should_declare_it(make_dist):
    make_dist(
        "acme-pager",
        "import pagerlib_not_installed\nfrom plughost import Plugin\n",
        namespace="pager",
    )
    record = load("pager")
    assert record.exception == "ModuleNotFoundError"
    assert "acme-pager imports 'pagerlib_not_installed', which is not installed" in record.error
    assert "acme-pager should declare the distribution that provides it" in record.error


def test_a_missing_module_of_a_dependency_names_the_dependency(make_dist):
    site = make_dist.root
    (site / "acmehelpers.py").write_text("import yaml_not_installed\n")
    dist_info = site / "acme_helpers-2.0.dist-info"
    dist_info.mkdir()
    (dist_info / "METADATA").write_text("Metadata-Version: 2.1\nName: acme-helpers\nVersion: 2.0\n")
    (dist_info / "top_level.txt").write_text("acmehelpers\n")
    make_dist("acme-relay", "import acmehelpers\n", namespace="relay")
    record = load("relay")
    assert "acme-helpers imports 'yaml_not_installed'" in record.error


def test_strict_mode_names_the_line(make_dist):
    module = make_dist("acme-boom", BOOM, namespace="boom")
    with pytest.raises(PluginLoadError, match=f"at {make_dist.root / module}.py:5"):
        discover(host_version="0.1.0", enabled=["boom"], strict=True)


def test_plughost_plugins_exits_non_zero_and_shows_the_traceback_on_request(make_dist, tmp_path):
    module = make_dist("acme-boom", BOOM, namespace="boom")
    make_dist("acme-alpha", simple_plugin("alpha"))
    env = cli_env(tmp_path / "data", PYTHONPATH=str(make_dist.root))
    plain = run_cli(env, "plugins")
    assert plain.returncode == 1, plain.stdout + plain.stderr
    assert "boom         failed" in plain.stdout
    assert f"at {make_dist.root / module}.py:5" in plain.stdout
    assert "Traceback" not in plain.stdout
    assert "refused as 'plugin not loaded'" in plain.stderr
    assert "--verbose" in plain.stderr
    verbose = run_cli(env, "plugins", "--verbose")
    assert verbose.returncode == 1
    assert "Traceback (most recent call last)" in verbose.stdout
    assert 'os.environ["BOOM_PAGER_URL"]' in verbose.stdout
    allowed = run_cli(env, "plugins", "--allow-failures", "--json")
    assert allowed.returncode == 0, allowed.stderr
    ok = run_cli({**env, "PLUGHOST_DISABLED_PLUGINS": "boom"}, "plugins")
    assert ok.returncode == 0, ok.stdout + ok.stderr


def test_the_fixture_refuses_to_start_without_a_plugin_that_failed(plughost_factory, make_dist):
    module = make_dist("acme-boom", BOOM, namespace="boom")
    with pytest.raises(PluginNotLoaded) as raised:
        plughost_factory(plugins=["boom"], in_process=True)
    message = str(raised.value)
    assert "plugin 'boom' (acme-boom 1.0.0) did not load (failed): KeyError" in message
    assert f"at {make_dist.root / module}.py:5" in message
    assert "refused as 'plugin not loaded'" in message and "allow_failures=True" in message


def test_the_fixture_names_a_plugin_that_is_not_installed(plughost_factory, make_dist):
    make_dist("acme-oncall", simple_plugin("oncall"))
    with pytest.raises(PluginNotLoaded) as raised:
        plughost_factory(plugins=["oncal"], in_process=True)
    message = str(raised.value)
    assert "no plugin 'oncal' is installed; installed: " in message
    assert "oncall" in message.split("installed: ", 1)[1]
    assert "did you mean 'oncall'?" in message


def test_the_fixture_refuses_tokens_for_scopes_nobody_declared(plughost_factory):
    host = plughost_factory(plugins=["todo"], in_process=True)
    with pytest.raises(
        ScopeNotDeclared, match="todo:admin; declared: plughost:admin todo:read todo:write"
    ):
        host.client(["todo:read", "todo:admin"])
    assert host.client(["todo:read"]).call("todo_list").ok


def test_check_reports_the_issuer_token_mints_for(tmp_path):
    data = tmp_path / "data"
    DevIssuer(data).remember_url("http://127.0.0.1:8765", "http://127.0.0.1:8765/mcp")
    env = cli_env(data)
    minted = run_cli(env, "token", "--scope", "todo:read")
    assert minted.returncode == 0, minted.stderr
    issuer = jwt.decode(minted.stdout.strip(), options={"verify_signature": False})["iss"]
    checked = run_cli(env, "check")
    assert checked.returncode == 0, checked.stderr
    line = next(x for x in checked.stdout.splitlines() if x.startswith("issuers (iss):"))
    assert line.split() == ["issuers", "(iss):", issuer], textwrap.shorten(checked.stdout, 400)
