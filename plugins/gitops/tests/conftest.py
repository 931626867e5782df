"""Real git for the gitops tests: a bare remote in a temp dir, seeded through a clone, and hosts
started on it through the plughost test kit."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = "environments"
AUTHOR = {"author_name": "Deploy Bot", "author_email": "deploy-bot@example.com"}
ALL = ["gitops:read", "gitops:deploy", "gitops:rollback"]
PROTECTED = [*ALL, "gitops:deploy:protected"]

INITIAL = {
    "dev": {"api": "1.0.0", "web": "2.0.0", "worker": "0.1.0", "batch": "0.0.1"},
    "staging": {"api": "1.0.0", "web": "2.0.0", "worker": "0.1.0"},
    "production": {"api": "1.0.0", "web": "2.0.0", "worker": "0.1.0"},
}


def git(cwd: Path, *args: str, stdin: str | None = None) -> str:
    """Run git like a person at a terminal would, failing the test on any error."""
    result = subprocess.run(
        ["git", *args], cwd=cwd, input=stdin, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, f"git {' '.join(args)} failed: {result.stderr}"
    return result.stdout


def manifest(app: str, version: str) -> dict[str, Any]:
    """A manifest with keys the plugin does not know about, which every write must keep."""
    return {
        "image": f"registry.example.com/acme/{app}",
        "version": version,
        "replicas": 2,
        "env": {"LOG_LEVEL": "info"},
    }


class Writer:
    """Someone else with a clone of the remote: a person, CI, or another tool."""

    def __init__(self, remote: Path, path: Path) -> None:
        git(path.parent, "clone", "-q", str(remote), str(path))
        git(path, "config", "user.name", "Other Writer")
        git(path, "config", "user.email", "other@example.com")
        self.path = path

    def write(self, env: str, app: str, text: str, message: str) -> str:
        git(self.path, "pull", "-q", "--ff-only")
        file = self.path / ROOT / env / f"{app}.yaml"
        file.parent.mkdir(parents=True, exist_ok=True)
        file.write_text(text)
        git(self.path, "add", "-A")
        git(self.path, "commit", "-q", "-m", message)
        git(self.path, "push", "-q", "origin", "HEAD:main")
        return git(self.path, "rev-parse", "HEAD").strip()

    def set(self, env: str, app: str, message: str = "by hand", **changes: Any) -> str:
        """Change some keys of an app's manifest (creating it if need be) and push."""
        git(self.path, "pull", "-q", "--ff-only")
        file = self.path / ROOT / env / f"{app}.yaml"
        data = yaml.safe_load(file.read_text()) if file.exists() else manifest(app, "0.0.0")
        return self.write(env, app, yaml.safe_dump({**data, **changes}, sort_keys=False), message)


@dataclass
class Remote:
    """The bare repository every replica pushes to, and ways to look inside it."""

    path: Path

    def git(self, *args: str) -> str:
        return git(self.path, *args)

    def head(self) -> str:
        return self.git("rev-parse", "main").strip()

    def count(self) -> int:
        return int(self.git("rev-list", "--count", "main"))

    def manifest(self, env: str, app: str, rev: str = "main") -> dict[str, Any]:
        return yaml.safe_load(self.git("show", f"{rev}:{ROOT}/{env}/{app}.yaml"))

    def message(self, rev: str = "main") -> str:
        return self.git("log", "-1", "--format=%B", rev)

    def files_changed(self, rev: str = "main") -> list[str]:
        return self.git("diff-tree", "--no-commit-id", "--name-only", "-r", rev).split()

    def parent(self, rev: str = "main") -> str:
        return self.git("rev-parse", f"{rev}^").strip()

    def settings(self, **extra: Any) -> dict[str, Any]:
        """Host settings pointing the gitops plugin at this remote."""
        return {"plugins": {"gitops": {"repo_url": str(self.path), **AUTHOR, **extra}}}


@pytest.fixture
def remote(tmp_path: Path) -> Remote:
    """A bare remote with three environments and a little history, built with the git CLI."""
    bare = tmp_path / "gitops.git"
    git(tmp_path, "init", "-q", "--bare", "-b", "main", str(bare))
    seed = Writer(bare, tmp_path / "seed")
    for env, apps in INITIAL.items():
        for app, version in apps.items():
            file = seed.path / ROOT / env / f"{app}.yaml"
            file.parent.mkdir(parents=True, exist_ok=True)
            file.write_text(yaml.safe_dump(manifest(app, version), sort_keys=False))
    (seed.path / "README.md").write_text("Desired state, synced by the deploy controller.\n")
    git(seed.path, "add", "-A")
    git(seed.path, "commit", "-q", "-m", "initial state")
    git(seed.path, "push", "-q", "origin", "HEAD:main")
    for env in ("dev", "staging"):
        seed.set(env, "api", f"api 1.1.0 to {env}", version="1.1.0")
    return Remote(bare)


@pytest.fixture
def writer(remote: Remote, tmp_path: Path) -> Writer:
    return Writer(remote.path, tmp_path / "other-writer")


@pytest.fixture
def host(plughost_factory, remote: Remote):
    return plughost_factory(plugins=["gitops"], settings=remote.settings())


def clone_of(host: Any) -> Path:
    """The replica's working clone, which must never keep anything the remote does not have."""
    return Path(host.data_dir) / "plugins" / "gitops" / "clone"


def assert_clean(host: Any, remote: Remote) -> None:
    """The replica's clone holds nothing stray: no edits, no untracked files, and no commit the
    remote does not have (it may be behind: every call fetches first)."""
    clone = clone_of(host)
    assert git(clone, "status", "--porcelain", "--ignored") == ""
    head = git(clone, "rev-parse", "HEAD").strip()
    remote.git("merge-base", "--is-ancestor", head, "main")
    assert git(clone, "for-each-ref", "--format=%(refname)", "refs/heads").split() == [
        "refs/heads/main"
    ]
