"""Writing a release into a manifest changes that value and nothing else.

Manifests are edited by people too: comments explain why a value is what it is, quoting and
indentation follow the team's style, and values like ``no`` mean the string the deploy
controller reads (YAML 1.2), not a boolean. A deploy or rollback must leave all of that as it
was; each test diffs the file before and after.
"""

from __future__ import annotations

import difflib

import yaml
from conftest import ALL, manifest

COMMENTED = """\
# api in dev: owned by the payments team (#payments-oncall)
image: registry.example.com/acme/api   # mirrored, see INFRA-7
version: '1.1.0'  # bumped by gitops_deploy
replicas: 3
# feature switches are strings the controller passes on as they are
flags:
  dark_launch: no
  country: NO
args:
    - --port=8080
    - --log-format=json   # what the log pipeline parses
resources: {limits: {memory: 512Mi}}
"""


def changed_lines(before: str, after: str) -> list[str]:
    """The lines a diff removes and adds, without the diff's own header."""
    return [
        line
        for line in difflib.unified_diff(before.splitlines(), after.splitlines(), lineterm="")
        if line[:1] in "+-" and not line.startswith(("+++", "---"))
    ]


def deploy(host, version: str) -> None:
    call = host.client(ALL).call(
        "gitops_deploy", environment="dev", app="api", version=version, reason="diff test"
    )
    assert call.ok, call.body


def test_a_deploy_into_a_commented_manifest_changes_only_the_version(host, remote, writer):
    writer.write("dev", "api", COMMENTED, "hand-written manifest")
    deploy(host, "1.2.0")
    after = remote.git("show", "main:environments/dev/api.yaml")
    assert changed_lines(COMMENTED, after) == [
        "-version: '1.1.0'  # bumped by gitops_deploy",
        "+version: '1.2.0'  # bumped by gitops_deploy",
    ]


def test_no_stays_a_string_where_the_tools_read_it(host, writer):
    writer.write("dev", "api", COMMENTED, "hand-written manifest")
    app = host.client(ALL).call("gitops_get_app", environment="dev", app="api").data
    assert app["manifest"]["flags"] == {"dark_launch": "no", "country": "NO"}
    assert app["manifest"]["replicas"] == 3
    assert app["manifest"]["resources"] == {"limits": {"memory": "512Mi"}}


def test_a_rollback_restores_the_version_and_keeps_the_rest(host, remote, writer):
    writer.write("dev", "api", COMMENTED, "hand-written manifest")
    deploy(host, "1.2.0")
    call = host.client(ALL).call(
        "gitops_rollback", environment="dev", app="api", reason="diff test"
    )
    assert call.ok, call.body
    assert remote.git("show", "main:environments/dev/api.yaml") == COMMENTED


def test_a_manifest_gitops_0_1_wrote_changes_only_in_its_version(host, remote, writer):
    """0.1 wrote every manifest with PyYAML's safe_dump; 0.2 edits those files in place too."""
    written_by_0_1 = yaml.safe_dump(
        {**manifest("api", "1.1.0"), "enabled": False, "args": ["--a", "--b"]},
        sort_keys=False,
        default_flow_style=False,
    )
    writer.write("dev", "api", written_by_0_1, "as gitops 0.1 wrote it")
    deploy(host, "1.3.0")
    after = remote.git("show", "main:environments/dev/api.yaml")
    assert changed_lines(written_by_0_1, after) == ["-version: 1.1.0", "+version: 1.3.0"]
