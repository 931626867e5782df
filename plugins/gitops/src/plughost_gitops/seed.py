"""The dev default: a bare repository in the data directory with something to look at.

Three environments and three apps, with a little history (so `gitops_get_app` shows a log and
`gitops_rollback` has an earlier version to go back to) and an unknown key (``replicas``) that
every write has to keep.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from plughost_gitops.repository import GitFailed, Identity, run_git

START = {
    "dev": {"api": "1.5.0", "web": "2.3.0", "worker": "0.9.0"},
    "staging": {"api": "1.5.0", "web": "2.3.0", "worker": "0.9.0"},
    "production": {"api": "1.4.1", "web": "2.3.0", "worker": "0.8.1"},
}
LATER = [("production", "api", "1.4.2"), ("dev", "web", "2.3.1")]


def _manifest(app: str, version: str) -> str:
    return f"image: registry.example.com/acme/{app}\nversion: {version}\nreplicas: 2\n"


def dev_history() -> list[tuple[str, dict[str, str]]]:
    """The seed commits, oldest first: (message, {path under the root: file text})."""
    first = {
        f"{env}/{app}.yaml": _manifest(app, version)
        for env, apps in START.items()
        for app, version in apps.items()
    }
    commits = [("seed environments\n\nRequested-by: plughost dev seed\n", first)]
    for env, app, version in LATER:
        files = {f"{env}/{app}.yaml": _manifest(app, version)}
        commits.append(
            (f"deploy {app} {version} to {env}\n\nRequested-by: plughost dev seed\n", files)
        )
    return commits


def seed_dev_remote(remote: Path, root: str, branch: str, author: Identity) -> None:
    """Create the bare repository ``remote`` holding `dev_history` under ``root``.

    It is built beside its final place and renamed into it, so a replica stopped half-way
    leaves no half-seeded remote behind: the next start seeds again.
    """
    env = {
        "GIT_AUTHOR_NAME": author.name,
        "GIT_AUTHOR_EMAIL": author.email,
        "GIT_COMMITTER_NAME": author.name,
        "GIT_COMMITTER_EMAIL": author.email,
    }
    with tempfile.TemporaryDirectory(dir=remote.parent, prefix=".seed-") as tmp:
        bare, work = Path(tmp) / "remote.git", Path(tmp) / "work"

        def git(cwd: Path, *args: str) -> None:
            result = run_git(cwd, args, timeout=60, env=env)
            if result.returncode != 0:
                raise GitFailed(f"seeding the dev repository failed: {result.stderr.strip()}")

        git(Path(tmp), "init", "-q", "--bare", "-b", branch, str(bare))
        git(Path(tmp), "init", "-q", "-b", branch, str(work))
        for message, files in dev_history():
            for path, text in files.items():
                file = work / root / path
                file.parent.mkdir(parents=True, exist_ok=True)
                file.write_text(text, encoding="utf-8")
            git(work, "add", "-A")
            git(work, "commit", "-q", "--no-verify", "-m", message)
        git(work, "push", "-q", str(bare), f"HEAD:refs/heads/{branch}")
        bare.rename(remote)
