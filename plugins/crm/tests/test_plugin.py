"""The plugin as the host and operators see it: its version, tools and scopes."""

from __future__ import annotations

import os
import subprocess
import sys
from importlib.metadata import version
from pathlib import Path

import pytest

READ_TOOLS = [
    "crm_get_contact",
    "crm_list_deals",
    "crm_pipeline_summary",
    "crm_search_companies",
    "crm_search_contacts",
]
WRITE_TOOLS = [
    "crm_archive_company",
    "crm_archive_contact",
    "crm_create_company",
    "crm_create_contact",
    "crm_create_deal",
    "crm_log_activity",
    "crm_move_deal",
    "crm_update_company",
    "crm_update_contact",
]
DELETE_TOOLS = ["crm_delete_company", "crm_delete_contact"]


def test_plughost_plugins_lists_crm_with_its_version_and_tools(tmp_path):
    plughost = Path(sys.executable).with_name("plughost")
    env = {**os.environ, "PLUGHOST_DATA_DIR": str(tmp_path)}
    shown = subprocess.run(
        [str(plughost), "plugins"], env=env, capture_output=True, text=True, check=True
    ).stdout
    line = next(line for line in shown.splitlines() if line.startswith("crm "))
    assert line.split() == ["crm", "loaded", "plughost-crm", version("plughost-crm")]
    for tool in READ_TOOLS + WRITE_TOOLS + DELETE_TOOLS:
        assert tool in shown


@pytest.mark.parametrize(
    ("scopes", "tools"),
    [
        (["crm:read"], READ_TOOLS),
        (["crm:read", "crm:write"], READ_TOOLS + WRITE_TOOLS),
        (["crm:delete"], DELETE_TOOLS),
        ([], []),
    ],
)
def test_agents_see_the_tools_their_scopes_allow(host, scopes, tools):
    assert sorted(host.client(scopes).tool_names()) == sorted(tools)


def test_tools_declare_their_scopes_and_hints(host):
    listed = {t["name"]: t for t in host.client().list_tools()}
    for name in READ_TOOLS:
        assert listed[name]["annotations"]["readOnlyHint"] is True
    for name in DELETE_TOOLS:
        assert listed[name]["annotations"]["destructiveHint"] is True
    scopes = {name: t["_meta"]["plughost"]["scopes"] for name, t in listed.items()}
    assert scopes["crm_create_deal"] == ["crm:write"]
    assert scopes["crm_delete_contact"] == ["crm:delete"]
    amount = listed["crm_create_deal"]["inputSchema"]["properties"]["amount"]
    assert {"type": "integer", "minimum": 0} in amount["anyOf"]
