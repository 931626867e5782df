"""The replica's own clone of the GitOps repository, driven through the git CLI.

The remote is the source of truth: every session starts by fetching it and resetting the clone
to the remote head, and ends by resetting again, so nothing this replica did and failed to push
(a commit, an edited file) outlives the call. Several replicas each keep their own clone and meet
only at the remote, whose push is atomic: a push built on a head that moved is rejected, and
the caller re-applies its change on the new head.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from plughost import ToolError

_FIELD = "\x1f"
_RECORD = "\x1e"
_USERINFO = re.compile(r"//[^/@]*@")


class RemoteUnavailable(ToolError):
    """The remote could not be reached or read; nothing was changed."""

    code = "remote_unavailable"


class GitFailed(ToolError):
    """A git command failed for a reason other than reaching the remote."""

    code = "git_error"


@dataclass(frozen=True)
class Identity:
    name: str
    email: str


@dataclass(frozen=True)
class LogEntry:
    commit: str
    author: str
    time: datetime
    message: str


def redact(url: str) -> str:
    """The URL without any user:password, so it can go into error messages and logs."""
    return _USERINFO.sub("//***@", url)


class Repository:
    """One replica's working clone of ``url``'s ``branch``, used by one call at a time.

    Tools run in worker threads, so every sequence of git commands holds the lock (`session`).
    """

    def __init__(
        self, url: str, clone_dir: Path, branch: str, author: Identity, timeout: float
    ) -> None:
        self.url = url
        self.clone_dir = clone_dir
        self.branch = branch
        self.author = author
        self.timeout = timeout
        self.head = ""
        self._lock = threading.Lock()
        self._tracking = f"refs/remotes/origin/{branch}"

    def prepare(self) -> None:
        """Create the clone (without contacting the remote) and point it at the configured URL."""
        if not (self.clone_dir / ".git").is_dir():
            self.clone_dir.mkdir(parents=True, exist_ok=True)
            self._git("init", "-q", "-b", self.branch)
            self._git("remote", "add", "origin", self.url)
        else:
            self._git("remote", "set-url", "origin", self.url)

    @contextmanager
    def session(self) -> Iterator[Repository]:
        """Hold the clone, synced to the remote head, and leave it clean whatever happens."""
        with self._lock:
            try:
                self.sync()
                yield self
            finally:
                self._reset()

    def sync(self) -> None:
        """Fetch the branch and make the working tree exactly the remote head."""
        refspec = f"+refs/heads/{self.branch}:{self._tracking}"
        try:
            self._git("fetch", "-q", "--no-tags", "origin", refspec)
        except GitFailed as exc:
            raise RemoteUnavailable(
                f"cannot read branch {self.branch!r} of the GitOps repository "
                f"{redact(self.url)}: {exc.message}; nothing was changed"
            ) from None
        self._reset()

    def _reset(self) -> None:
        if self._git_ok("rev-parse", "-q", "--verify", self._tracking):
            self._git("checkout", "-q", "-f", "-B", self.branch, self._tracking)
            self.head = self._git("rev-parse", "HEAD").strip()
        self._git("clean", "-q", "-ffdx")

    def list_tree(self, path: str) -> tuple[list[str], list[str]]:
        """Sorted sub-directories and regular files directly under ``path`` at the head.

        Read from git's tree, not the file system: a symbolic link (or submodule) in the
        repository is neither, so nobody who can push can make the plugin read or write
        outside the clone.
        """
        dirs, files = [], []
        for entry in self._git("ls-tree", "-z", "HEAD", f"{path}/").split("\0"):
            meta, _, name = entry.partition("\t")
            if not name:
                continue
            mode, kind, _ = meta.split(" ")
            name = name.rpartition("/")[2]
            if kind == "tree":
                dirs.append(name)
            elif mode in ("100644", "100755"):
                files.append(name)
        return sorted(dirs), sorted(files)

    def log(self, path: str, limit: int | None = None) -> list[LogEntry]:
        """Commits that changed ``path``, newest first."""
        fmt = _FIELD.join(("%H", "%an", "%aI", "%B")) + _RECORD
        args = ["log", f"--format={fmt}"]
        if limit is not None:
            args.append(f"-n{limit}")
        out = self._git(*args, "HEAD", "--", path)
        entries = []
        for record in out.split(_RECORD):
            if record.strip():
                commit, author, time, message = record.lstrip("\n").split(_FIELD, 3)
                when = datetime.fromisoformat(time).astimezone(UTC)
                entries.append(LogEntry(commit, author, when, message.strip()))
        return entries

    def show(self, commit: str, path: str) -> str | None:
        """``path`` as it is at ``commit`` (or ``HEAD``), or None when it does not exist there."""
        result = self._run("show", f"{commit}:{path}")
        return result.stdout if result.returncode == 0 else None

    def resolve(self, commit: str) -> str | None:
        """The full id of ``commit`` if it is on the branch's history, else None."""
        result = self._run("rev-parse", "-q", "--verify", f"{commit}^{{commit}}")
        if result.returncode != 0:
            return None
        full = result.stdout.strip()
        return full if self._git_ok("merge-base", "--is-ancestor", full, "HEAD") else None

    def commit_and_push(self, path: str, text: str, message: str) -> str | None:
        """Commit ``text`` as ``path`` on the current head and push it.

        Returns the new commit id, or None when another writer moved the remote first: the clone
        is then at the new remote head and the caller decides whether to re-apply its change.
        A push refused while the remote did not move (a protected branch, a hook) is an error.
        """
        base = self.head
        file = self.clone_dir / path
        if file.is_symlink() or not file.resolve().is_relative_to(self.clone_dir.resolve()):
            raise GitFailed(f"{path} is a symbolic link in the repository; not writing through it")
        file.write_text(text, encoding="utf-8")
        identity = ("-c", f"user.name={self.author.name}", "-c", f"user.email={self.author.email}")
        self._git("add", "--", path)
        # --no-verify: a machine-wide pre-commit hook (a developer's linters) must not veto it.
        self._git(*identity, "commit", "-q", "--no-verify", "-F", "-", stdin=message)
        commit = self._git("rev-parse", "HEAD").strip()
        pushed = self._run("push", "-q", "--porcelain", "origin", f"HEAD:refs/heads/{self.branch}")
        if pushed.returncode == 0:
            self.head = commit
            return commit
        self.sync()
        if self.head == commit:  # pushed, but the answer was lost on the way back
            return commit
        if self.head == base:
            raise GitFailed(
                f"the GitOps repository {redact(self.url)} refused the push: "
                f"{_refusal(pushed)}; nothing was changed"
            )
        return None

    def _git(self, *args: str, stdin: str | None = None) -> str:
        result = self._run(*args, stdin=stdin)
        if result.returncode != 0:
            raise GitFailed(_last_line(result.stderr) or f"git {args[0]} failed")
        return result.stdout

    def _git_ok(self, *args: str) -> bool:
        return self._run(*args).returncode == 0

    def _run(self, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        return run_git(self.clone_dir, args, timeout=self.timeout, stdin=stdin)


def run_git(
    cwd: Path,
    args: tuple[str, ...],
    *,
    timeout: float,
    stdin: str | None = None,
    env: Mapping[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run git without a shell and without ever waiting on a human.

    A credential prompt would hang the tool call, so prompts are off (HTTPS and SSH alike). A
    hung remote is cut off by ``timeout``: git runs in its own process group so its helpers
    (git-remote-https, ssh), which hold its output open, are stopped with it. Credentials in
    URLs are redacted from git's messages (never from file contents).
    """
    full_env = {**os.environ, "GIT_TERMINAL_PROMPT": "0", "LC_ALL": "C", **(env or {})}
    full_env.setdefault("GIT_SSH_COMMAND", "ssh -o BatchMode=yes")
    with subprocess.Popen(
        ["git", *args],
        cwd=cwd,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=full_env,
        start_new_session=True,
    ) as process:
        try:
            stdout, stderr = process.communicate(stdin or "", timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.communicate()
            raise GitFailed(
                f"git {args[0]} took longer than {timeout:g}s and was stopped"
            ) from None
    return subprocess.CompletedProcess(process.args, process.returncode, stdout, redact(stderr))


def _refusal(push: subprocess.CompletedProcess[str]) -> str:
    """Why the remote refused a push: what its hooks said, then git's verdict per ref."""
    said = [
        line.removeprefix("remote:").strip()
        for line in push.stderr.splitlines()
        if line.startswith("remote:")
    ]
    verdicts = [line.split("\t")[-1] for line in push.stdout.splitlines() if line.startswith("!")]
    return "; ".join(filter(None, said + verdicts)) or _last_line(push.stderr)


def _last_line(text: str) -> str:
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return lines[-1] if lines else ""
