"""A throwaway tool plugin for the policy to guard, installed for one test at a time."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

DEPLOY = """
from plughost import Plugin, ToolContext

plugin = Plugin(scopes={"deploy:run": "Deploy apps", "deploy:read": "See deploys"})


@plugin.tool(scopes=["deploy:run"])
def release(ctx: ToolContext, app: str, environment: str, replicas: int = 1) -> str:
    "Deploy an app."
    return f"{app} to {environment}"


@plugin.tool(scopes=["deploy:read"], read_only=True)
def status(ctx: ToolContext, app: str) -> str:
    "An app's deploy status."
    return f"{app} is fine"
"""


@pytest.fixture
def deploy_plugin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """Install the ``deploy`` plugin (a distribution with an ``mcp_tools`` entry point)."""
    site = tmp_path / "site"
    site.mkdir()
    (site / "acme_deploy_tools.py").write_text(textwrap.dedent(DEPLOY))
    dist_info = site / "acme_deploy-1.0.0.dist-info"
    dist_info.mkdir()
    (dist_info / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: acme-deploy\nVersion: 1.0.0\nRequires-Dist: plughost>=0.1\n"
    )
    (dist_info / "entry_points.txt").write_text("[mcp_tools]\ndeploy = acme_deploy_tools:plugin\n")
    monkeypatch.syspath_prepend(str(site))
    return "deploy"
