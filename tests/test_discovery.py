"""Discovery against real installed distributions: every refusal, and what the others do then."""

from __future__ import annotations

import json

import pytest
from conftest import simple_plugin
from processes import cli_env, run_cli

from plughost import __version__
from plughost.core.discovery import PluginStatus, discover
from plughost.testing import PluginLoadError, SettingsError


def records(**kwargs):
    report = discover(host_version=__version__, **kwargs)
    return report, {r.namespace: r for r in report.records}


def test_a_good_plugin_loads_with_its_tools_and_scopes(make_dist):
    make_dist("acme-alpha", simple_plugin("alpha"))
    report, by_ns = records()
    alpha = by_ns["alpha"]
    assert alpha.status is PluginStatus.LOADED
    assert (alpha.distribution, alpha.version) == ("acme-alpha", "1.0.0")
    assert alpha.scopes == {"alpha:read": "Read things"}
    assert [(t.name, t.scopes) for t in alpha.tools] == [("alpha_echo", ["alpha:read"])]
    assert alpha.tools[0].description == "Echo text back with who asked."
    assert "alpha" in [p.namespace for p in report.loaded]


def test_broken_import_is_reported_and_others_still_load(make_dist):
    make_dist("acme-broken", "import not_a_module_anywhere\n", namespace="broken")
    make_dist("acme-alpha", simple_plugin("alpha"))
    report, by_ns = records()
    assert by_ns["broken"].status is PluginStatus.FAILED
    assert "ModuleNotFoundError" in by_ns["broken"].error
    assert "not_a_module_anywhere" in by_ns["broken"].error
    assert "\n" not in by_ns["broken"].error
    assert by_ns["alpha"].status is PluginStatus.LOADED
    assert [p.namespace for p in report.loaded if p.namespace in ("alpha", "broken")] == ["alpha"]


def test_incompatible_host_range_names_both_versions(make_dist):
    make_dist("acme-future", simple_plugin("future"), requires="plughost>=99")
    _, by_ns = records()
    future = by_ns["future"]
    assert future.status is PluginStatus.INCOMPATIBLE
    assert "plughost>=99" in future.error
    assert f"plughost {__version__}" in future.error
    assert "acme-future 1.0.0" in future.error


def test_a_requirement_for_an_extra_does_not_count(make_dist):
    make_dist("acme-extra", simple_plugin("extra"), requires='plughost>=99; extra == "dev"')
    _, by_ns = records()
    assert by_ns["extra"].status is PluginStatus.LOADED


def test_second_distribution_claiming_a_namespace_is_refused(make_dist):
    make_dist("acme-one", simple_plugin("dup"), namespace="dup", version="1.2.0")
    make_dist("acme-two", simple_plugin("dup"), namespace="dup", version="3.4.0")
    report, _ = records()
    dups = [r for r in report.records if r.namespace == "dup"]
    assert [r.status for r in dups] == [PluginStatus.LOADED, PluginStatus.CONFLICT]
    loser = dups[1]
    for part in ("acme-one", "1.2.0", "acme-two", "3.4.0"):
        assert part in loser.error


@pytest.mark.parametrize(
    ("source", "message"),
    [
        (
            """
            from plughost import Plugin
            plugin = Plugin(scopes={"bad:read": "Read"})
            @plugin.tool(scopes=["bad:write"])
            def act(ctx) -> str:
                return "x"
            """,
            "undeclared scope(s) bad:write",
        ),
        (
            """
            from plughost import Plugin
            plugin = Plugin(scopes={"todo:read": "Read someone else's"})
            """,
            "outside the plugin's namespace",
        ),
        (
            """
            from plughost import Plugin
            plugin = Plugin(scopes={"bad:read": ""})
            """,
            "needs a description",
        ),
        (
            """
            from plughost import Plugin
            plugin = Plugin(scopes={"bad:read": "Read"})
            @plugin.tool(scopes=[], name="x" * 61)
            def act(ctx) -> str:
                return "x"
            """,
            "the limit is 64",
        ),
        (
            """
            from sqlalchemy import Column, Integer
            from plughost import Plugin
            plugin = Plugin(scopes={"bad:read": "Read"})
            plugin.table("other_things", Column("id", Integer, primary_key=True))
            """,
            "must be named 'bad_<name>'",
        ),
    ],
    ids=["undeclared-scope", "foreign-scope", "undescribed-scope", "long-name", "table-name"],
)
def test_rule_breaking_plugins_are_refused_with_a_clear_message(make_dist, source, message):
    make_dist("acme-bad", source, namespace="bad")
    make_dist("acme-alpha", simple_plugin("alpha"))
    _, by_ns = records()
    assert by_ns["bad"].status is PluginStatus.FAILED
    assert message in by_ns["bad"].error
    assert by_ns["alpha"].status is PluginStatus.LOADED


def test_invalid_namespace_is_refused(make_dist):
    make_dist("acme-caps", simple_plugin("Caps"), namespace="Caps")
    _, by_ns = records()
    assert by_ns["Caps"].status is PluginStatus.FAILED
    assert "namespace 'Caps' is not allowed" in by_ns["Caps"].error


def test_allow_and_deny_lists(make_dist):
    make_dist("acme-alpha", simple_plugin("alpha"))
    make_dist("acme-beta", simple_plugin("beta"))
    _, by_ns = records(disabled=["beta"])
    assert by_ns["beta"].status is PluginStatus.DISABLED
    assert by_ns["alpha"].status is PluginStatus.LOADED
    report, by_ns = records(enabled=["beta"])
    assert by_ns["alpha"].status is PluginStatus.DISABLED
    assert [p.namespace for p in report.loaded] == ["beta"]


def test_strict_mode_turns_any_failure_into_an_error(make_dist):
    make_dist("acme-broken", "raise RuntimeError('boom at import')\n", namespace="broken")
    make_dist("acme-alpha", simple_plugin("alpha"))
    with pytest.raises(PluginLoadError, match=r"broken.*boom at import"):
        discover(host_version=__version__, strict=True)
    report = discover(host_version=__version__, strict=True, disabled=["broken"])
    assert "alpha" in [p.namespace for p in report.loaded]


def test_a_module_implementing_hooks_directly_is_a_plugin(make_dist):
    module = make_dist(
        "acme-raw",
        """
        import sys
        from plughost.sdk.hookspecs import hookimpl
        from plughost.sdk.tool_spec import ToolSpec

        def shout(ctx, text: str) -> str:
            "Upper-case the text."
            return text.upper()

        @hookimpl
        def plughost_scopes():
            return {"raw:use": "Use raw tools"}

        @hookimpl
        def plughost_tools():
            return [ToolSpec(name="shout", fn=shout, scopes=("raw:use",))]

        plugin = sys.modules[__name__]
        """,
        namespace="raw",
    )
    assert module
    _, by_ns = records()
    assert by_ns["raw"].status is PluginStatus.LOADED
    assert [t.name for t in by_ns["raw"].tools] == ["raw_shout"]


def test_misspelled_hook_is_refused_by_pluggy(make_dist):
    make_dist(
        "acme-typo",
        """
        import sys
        from plughost.sdk.hookspecs import hookimpl

        @hookimpl
        def plughost_scope():
            return {}

        plugin = sys.modules[__name__]
        """,
        namespace="typo",
    )
    _, by_ns = records()
    assert by_ns["typo"].status is PluginStatus.FAILED
    assert "plughost_scope" in by_ns["typo"].error


def _cli(args, tmp_path, site, **env):
    return run_cli(cli_env(tmp_path / "data", PYTHONPATH=str(site), **env), *args)


def test_plugins_cli_json(make_dist, tmp_path):
    make_dist("acme-alpha", simple_plugin("alpha"))
    make_dist("acme-future", simple_plugin("future"), requires="plughost>=99")
    done = _cli(["plugins", "--json", "--allow-failures"], tmp_path, make_dist.root)
    assert done.returncode == 0, done.stderr
    report = {r["namespace"]: r for r in json.loads(done.stdout)}
    assert report["alpha"]["status"] == "loaded"
    assert report["alpha"]["version"] == "1.0.0"
    assert report["alpha"]["tools"] == [
        {
            "name": "alpha_echo",
            "scopes": ["alpha:read"],
            "conditional_scopes": {},
            "annotations": {
                "readOnlyHint": True,
                "destructiveHint": False,
                "idempotentHint": True,
                "openWorldHint": False,
            },
            "title": None,
            "description": "Echo text back with who asked.",
        }
    ]
    assert report["future"]["status"] == "incompatible"
    assert "plughost>=99" in report["future"]["error"]
    table = _cli(["plugins"], tmp_path, make_dist.root)
    assert "alpha" in table.stdout and "incompatible" in table.stdout
    assert table.returncode == 1, "an incompatible plugin is a failure unless allowed"


def test_bad_setting_stops_startup_naming_it(make_dist, tmp_path):
    make_dist("acme-alpha", simple_plugin("alpha"))
    done = _cli(["serve", "--port", "1"], tmp_path, make_dist.root, PLUGHOST_STRICT="maybe")
    assert done.returncode == 2
    assert "PLUGHOST_STRICT" in done.stderr
    assert "Traceback" not in done.stderr


def test_plugin_settings_are_validated_by_its_model(make_dist, plughost_factory):
    make_dist(
        "acme-conf",
        """
        from pydantic import BaseModel
        from plughost import Plugin

        class Settings(BaseModel):
            limit: int = 5

        plugin = Plugin(scopes={"conf:read": "Read"}, settings=Settings)
        """,
        namespace="conf",
    )
    with pytest.raises(SettingsError, match="PLUGHOST_PLUGINS__CONF__LIMIT"):
        plughost_factory(
            plugins=["conf"], settings={"plugins": {"conf": {"limit": "lots"}}}, in_process=True
        )


def test_plugin_settings_from_environment_strings(make_dist, plughost_factory, monkeypatch):
    make_dist(
        "acme-conf",
        """
        from pydantic import BaseModel
        from plughost import Plugin, ToolContext

        class Settings(BaseModel):
            limit: int = 5
            regions: list[str] = []
            labels: dict[str, str] = {}
            motto: str | None = None

        plugin = Plugin(scopes={"conf:read": "Read"}, settings=Settings)

        @plugin.tool(scopes=["conf:read"])
        def show(ctx: ToolContext) -> dict:
            "The settings the plugin got."
            return ctx.settings.model_dump()
        """,
        namespace="conf",
    )
    monkeypatch.setenv("PLUGHOST_PLUGINS__CONF__LIMIT", "7")
    monkeypatch.setenv("PLUGHOST_PLUGINS__CONF__REGIONS", "eu, us")
    monkeypatch.setenv("PLUGHOST_PLUGINS__CONF__LABELS", '{"team": "ops"}')
    monkeypatch.setenv("PLUGHOST_PLUGINS__CONF__MOTTO", "[not a list]")
    host = plughost_factory(plugins=["conf"], in_process=True)
    assert host.client().call("conf_show").data == {
        "limit": 7,
        "regions": ["eu", "us"],
        "labels": {"team": "ops"},
        "motto": "[not a list]",
    }
