"""Deployments as commits to a GitOps repository: agents see and change what runs where.

The plugin never talks to a cluster or a cloud. It changes the desired state in git (one YAML
manifest per app per environment) and the deploy controller the team already runs (Argo CD,
Flux) does the rest, so an agent needs a scoped token and nothing else.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any, Literal, cast

from pydantic import BaseModel, ConfigDict, Field, field_validator

from plughost import Conflict, NotFound, Plugin, PluginRuntime, ToolContext, ToolError
from plughost.elicitation import Ask
from plughost_gitops.claims import AppClaims
from plughost_gitops.confirm import confirmation, step
from plughost_gitops.manifests import (
    NAME_RULE,
    CommitId,
    Manifest,
    Name,
    Reason,
    Version,
    check_commit,
    check_name,
    check_reason,
    check_version,
    is_name,
    one_line,
    parse_manifest,
)
from plughost_gitops.repository import Identity, Repository
from plughost_gitops.seed import seed_dev_remote

PROTECTED_SCOPE = "gitops:deploy:protected"
WHEN_PROTECTED = "when the environment is protected (production)"
PUSH_ATTEMPTS = 5
_PATH = r"[A-Za-z0-9_][A-Za-z0-9._-]*(/[A-Za-z0-9_][A-Za-z0-9._-]*)*"


class GitOpsSettings(BaseModel):
    """``PLUGHOST_PLUGINS__GITOPS__<FIELD>``."""

    model_config = ConfigDict(extra="forbid")

    repo_url: str | None = Field(
        None,
        description="The GitOps repository: a path, file://, ssh or https URL. Default: a bare "
        "repository seeded in the plugin's data directory (for one machine only).",
    )
    branch: str = Field(
        "main", pattern=f"^{_PATH}$", description="The branch the controller syncs."
    )
    author_name: str = Field("Plughost GitOps", min_length=1, description="Commit author name.")
    author_email: str = Field(
        "gitops@plughost.invalid", min_length=3, description="Commit author email."
    )
    root: str = Field(
        "environments",
        pattern=f"^{_PATH}$",
        description="Directory holding <environment>/<app>.yaml, relative to the repository.",
    )
    protected_environments: list[str] = Field(
        default_factory=lambda: ["production"],
        description=f"Environments whose changes also need {PROTECTED_SCOPE} (comma-separated).",
    )
    confirm_protected: bool = Field(
        True,
        description="Ask the user (or need confirm=true) before changing a protected environment.",
    )
    allowed_tenants: list[str] = Field(
        default_factory=list,
        description="Tenants (organisations) that may use this repository; empty allows all.",
    )
    history_limit: int = Field(10, ge=1, le=100, description="Commits shown by gitops_get_app.")
    git_timeout_seconds: float = Field(60, gt=0, le=600, description="Limit on one git command.")

    @field_validator("repo_url")
    @classmethod
    def _not_an_option(cls, value: str | None) -> str | None:
        """git would read a leading '-' as an option (``--upload-pack=...``), not a remote."""
        if value is not None and (not value.strip() or value.startswith("-")):
            raise ValueError("must be a repository path or URL")
        return value

    @field_validator("protected_environments")
    @classmethod
    def _names(cls, value: list[str]) -> list[str]:
        bad = [name for name in value if not is_name(name)]
        if bad:
            raise ValueError(f"{bad} are not environment names ({NAME_RULE})")
        return value


plugin = Plugin(
    scopes={
        "gitops:read": "See environments, the app versions deployed in them, and their history.",
        "gitops:deploy": "Deploy a version of an app to an unprotected environment.",
        PROTECTED_SCOPE: "Together with gitops:deploy or gitops:rollback, change protected "
        "environments (production).",
        "gitops:rollback": "Roll an app in an unprotected environment back to an earlier version.",
    },
    baseline_scopes=["gitops:read"],
    settings=GitOpsSettings,
)


class Forbidden(ToolError):
    """The caller's organisation may not use this server's repository (``allowed_tenants``)."""

    code = "forbidden"


class AppVersion(BaseModel):
    app: str
    image: str
    version: str


class Environment(BaseModel):
    name: str
    protected: bool = Field(description=f"Changes here also need the {PROTECTED_SCOPE} scope.")
    apps: list[AppVersion]


class Environments(BaseModel):
    commit: str = Field(description="The repository commit this view was read at.")
    environments: list[Environment]


class HistoryEntry(BaseModel):
    commit: str
    author: str
    time: datetime
    version: str | None = Field(description="The app's version after this commit.")
    message: str = Field(description="Full message; trailers say who asked for it and why.")


class AppDetail(BaseModel):
    environment: str
    app: str
    image: str
    version: str
    protected: bool
    commit: str = Field(description="The repository commit this view was read at.")
    manifest: dict[str, Any] = Field(description="Every key of the app's manifest.")
    history: list[HistoryEntry] = Field(description="Commits that changed the app, newest first.")


class AppDifference(BaseModel):
    app: str
    status: Literal["changed", "only_in_from", "only_in_to"]
    from_version: str | None
    to_version: str | None
    from_image: str | None
    to_image: str | None
    changed_keys: list[str] = Field(description="Manifest keys whose values differ.")


class EnvironmentDiff(BaseModel):
    from_environment: str
    to_environment: str
    commit: str = Field(description="The repository commit both were read at.")
    differences: list[AppDifference]
    identical: list[str] = Field(description="Apps whose manifests are the same in both.")


class Change(BaseModel):
    environment: str
    app: str
    version: str = Field(description="The version the app has now.")
    previous_version: str
    changed: bool = Field(description="False when the app already had this version.")
    commit: str | None = Field(description="The pushed commit; None when nothing changed.")
    restored_from: str | None = Field(None, description="Rollbacks: the commit restored.")
    message: str


@plugin.on_startup
def start(runtime: PluginRuntime[GitOpsSettings]) -> None:
    """Set up this replica's clone; with no repo_url, seed the dev repository first.

    The remote is not contacted here: an unreachable remote must not keep the host from
    starting, it is reported by each tool call until it is back.
    """
    settings = runtime.settings
    author = Identity(settings.author_name, settings.author_email)
    url = settings.repo_url
    if url is None:
        remote = runtime.data_dir / "remote.git"
        if not remote.exists():
            seed_dev_remote(remote, settings.root, settings.branch, author)
            runtime.logger.info("seeded the dev GitOps repository at %s", remote)
        url = str(remote)
    repo = Repository(
        url, runtime.data_dir / "clone", settings.branch, author, settings.git_timeout_seconds
    )
    repo.prepare()
    runtime.state["repository"] = repo
    runtime.state["claims"] = AppClaims()


def _open(ctx: ToolContext[GitOpsSettings]) -> tuple[Repository, GitOpsSettings]:
    settings = ctx.settings
    if settings.allowed_tenants and ctx.caller.tenant_id not in settings.allowed_tenants:
        raise Forbidden("this server's GitOps repository does not belong to your organisation")
    return ctx.state["repository"], settings


def _claims(ctx: ToolContext) -> AppClaims:
    return cast(AppClaims, ctx.state["claims"])


def _require_protected(ctx: ToolContext, settings: GitOpsSettings, environment: str) -> None:
    if environment in settings.protected_environments:
        ctx.require_scopes(
            PROTECTED_SCOPE,
            reason=f"{environment} is a protected environment: changing it also needs the "
            f"{PROTECTED_SCOPE} scope, which your token does not have",
        )


def _confirmation(
    ctx: ToolContext,
    settings: GitOpsSettings,
    environment: str,
    current: Manifest,
    question: str,
    confirm: bool,
) -> Ask | None:
    """The user's confirmation of a change to ``current`` in ``environment``, if it needs one."""
    protected = settings.confirm_protected and environment in settings.protected_environments
    return confirmation(
        ctx, environment, question, now=current.version, confirm=confirm, protected=protected
    )


def _environments(repo: Repository, settings: GitOpsSettings) -> list[str]:
    return [name for name in repo.list_tree(settings.root)[0] if is_name(name)]


def _app_names(repo: Repository, settings: GitOpsSettings, environment: str) -> list[str]:
    """The apps of an environment: its ``<app>.yaml`` files whose stem is a valid name."""
    known = _environments(repo, settings)
    if environment not in known:
        raise NotFound(
            f"environment {environment!r} does not exist; there are: {_listing(known)}",
            environment=environment,
        )
    files = repo.list_tree(f"{settings.root}/{environment}")[1]
    return [file[:-5] for file in files if file.endswith(".yaml") and is_name(file[:-5])]


def _listing(names: Iterable[str]) -> str:
    return ", ".join(names) or "none"


def _read(repo: Repository, settings: GitOpsSettings, environment: str, app: str) -> Manifest:
    path = f"{settings.root}/{environment}/{app}.yaml"
    return parse_manifest(path, repo.show("HEAD", path) or "")


def _apps(repo: Repository, settings: GitOpsSettings, environment: str) -> dict[str, Manifest]:
    names = _app_names(repo, settings, environment)
    return {app: _read(repo, settings, environment, app) for app in names}


def _load(repo: Repository, settings: GitOpsSettings, environment: str, app: str) -> Manifest:
    """One app's manifest; only that file is parsed, so a broken neighbour does not matter."""
    names = _app_names(repo, settings, environment)
    if app not in names:
        raise NotFound(
            f"app {app!r} is not in {environment}; there are: {_listing(names)}",
            environment=environment,
            app=app,
        )
    return _read(repo, settings, environment, app)


def _version_at(repo: Repository, commit: str, path: str) -> Manifest | None:
    """The manifest as of ``commit``; None where it was missing or unreadable."""
    text = repo.show(commit, path)
    if text is None:
        return None
    try:
        return parse_manifest(path, text)
    except ToolError:
        return None


def _trailers(ctx: ToolContext, reason: str) -> str:
    caller = ctx.caller
    return (
        f"Requested-by: {one_line(caller.subject)}\n"
        f"Client: {one_line(caller.client_id or 'unknown')}\n"
        f"Tenant: {one_line(caller.tenant_id)}\n"
        f"Reason: {reason}\n"
    )


def _push(repo: Repository, seen: Manifest, version: str, image: str, message: str) -> str:
    """Commit the new release of ``seen``'s app and push it, re-applying on a moved head.

    A push that lost a race is retried on top of the other writer's commit, keeping whatever
    they changed, unless they changed this app's release too: then the caller decided on a
    state that no longer exists, and it is a conflict rather than a silent overwrite.
    """
    current = seen
    for _ in range(PUSH_ATTEMPTS):
        target = current.with_release(version, image)
        commit = repo.commit_and_push(target.path, target.dump(), message)
        if commit is not None:
            return commit
        text = repo.show("HEAD", seen.path)
        latest = None if text is None else parse_manifest(seen.path, text)
        if latest is None or (latest.version, latest.image) != (seen.version, seen.image):
            now = "removed" if latest is None else f"now {latest.version}"
            raise Conflict(
                f"{seen.path} was changed by someone else while this change was pushed "
                f"({now}); nothing was changed: read it again and decide",
                current_version=None if latest is None else latest.version,
            )
        current = latest
    raise Conflict(
        f"the repository kept moving: gave up after {PUSH_ATTEMPTS} attempts; nothing was "
        "changed, try again"
    )


def _unchanged(
    environment: str, app: str, version: str, restored_from: str | None = None
) -> Change:
    """The answer when the app already runs the wanted release: no commit is made for nothing."""
    return Change(
        environment=environment,
        app=app,
        version=version,
        previous_version=version,
        changed=False,
        commit=None,
        restored_from=restored_from,
        message=f"{app} already runs {version} in {environment}; nothing was changed",
    )


@plugin.tool(scopes=["gitops:read"], title="List environments", read_only=True)
def list_environments(ctx: ToolContext) -> Environments:
    """List every environment with its apps and the version each runs, as the repository says."""
    repo, settings = _open(ctx)
    with repo.session():
        envs = [
            Environment(
                name=name,
                protected=name in settings.protected_environments,
                apps=[
                    AppVersion(app=app, image=m.image, version=m.version)
                    for app, m in _apps(repo, settings, name).items()
                ],
            )
            for name in _environments(repo, settings)
        ]
        return Environments(commit=repo.head, environments=envs)


@plugin.tool(scopes=["gitops:read"], title="Get an app in an environment", read_only=True)
def get_app(ctx: ToolContext, environment: Name, app: Name) -> AppDetail:
    """One app in one environment: version, image, full manifest and recent history.

    Args:
        environment: Environment name, e.g. staging.
        app: App name, e.g. api.
    """
    repo, settings = _open(ctx)
    check_name("environment", environment)
    check_name("app", app)
    with repo.session():
        manifest = _load(repo, settings, environment, app)
        history = []
        for entry in repo.log(manifest.path, settings.history_limit):
            then = _version_at(repo, entry.commit, manifest.path)
            history.append(
                HistoryEntry(
                    commit=entry.commit,
                    author=entry.author,
                    time=entry.time,
                    version=None if then is None else then.version,
                    message=entry.message,
                )
            )
        return AppDetail(
            environment=environment,
            app=app,
            image=manifest.image,
            version=manifest.version,
            protected=environment in settings.protected_environments,
            commit=repo.head,
            manifest=manifest.data,
            history=history,
        )


@plugin.tool(scopes=["gitops:read"], title="Compare two environments", read_only=True)
def diff(ctx: ToolContext, from_environment: Name, to_environment: Name) -> EnvironmentDiff:
    """Which apps differ between two environments, and how (version, image, other keys).

    Args:
        from_environment: The environment to compare from, e.g. staging.
        to_environment: The environment to compare to, e.g. production.
    """
    repo, settings = _open(ctx)
    check_name("environment", from_environment)
    check_name("environment", to_environment)
    with repo.session():
        left = _apps(repo, settings, from_environment)
        right = _apps(repo, settings, to_environment)
        head = repo.head
    differences, identical = [], []
    for app in sorted(left.keys() | right.keys()):
        a, b = left.get(app), right.get(app)
        if a is not None and b is not None and a.data == b.data:
            identical.append(app)
            continue
        a_data, b_data = a.data if a else {}, b.data if b else {}
        keys = [k for k in {**a_data, **b_data} if a_data.get(k) != b_data.get(k)]
        status = "changed" if a and b else ("only_in_from" if a else "only_in_to")
        differences.append(
            AppDifference(
                app=app,
                status=status,
                from_version=a.version if a else None,
                to_version=b.version if b else None,
                from_image=a.image if a else None,
                to_image=b.image if b else None,
                changed_keys=keys,
            )
        )
    return EnvironmentDiff(
        from_environment=from_environment,
        to_environment=to_environment,
        commit=head,
        differences=differences,
        identical=identical,
    )


@plugin.tool(
    scopes=["gitops:deploy"],
    conditional_scopes={PROTECTED_SCOPE: WHEN_PROTECTED},
    title="Deploy a version",
    destructive=True,
    idempotent=True,
)
def deploy(
    ctx: ToolContext[GitOpsSettings],
    environment: Name,
    app: Name,
    version: Version,
    reason: Reason,
    confirm: bool = False,
) -> Change | Ask:
    """Set the version an app runs in an environment, as a commit the deploy controller syncs.

    The commit records who asked (token subject and client) and why. Setting the version the
    app already has changes nothing. Protected environments also need gitops:deploy:protected,
    and the user's confirmation: the tool asks them, or takes confirm=true from a client that
    cannot ask once they agreed.

    Args:
        environment: Environment name, e.g. staging.
        app: App name, e.g. api.
        version: The release to run: MAJOR.MINOR.PATCH, optional leading v, -prerelease and
            +build (1.4.2, v2.0.0-rc.1).
        reason: Why, in one line (ticket, incident, release note); kept in the commit.
        confirm: The user agreed to change this protected environment (for clients that
            cannot ask them).
    """
    repo, settings = _open(ctx)
    check_name("environment", environment)
    check_name("app", app)
    check_version(version)
    reason = check_reason(reason)
    _require_protected(ctx, settings, environment)
    with _claims(ctx).claim(environment, app), repo.session():
        current = _load(repo, settings, environment, app)
        if current.version == version:
            return _unchanged(environment, app, version)
        question = f"Deploy {app} {version} to {environment} (now {current.version})? {reason}"
        ask = _confirmation(ctx, settings, environment, current, question, confirm)
        if ask is not None:
            return ask
        step(ctx, 1, f"read {current.path}: {current.version}")
        message = f"deploy {app} {version} to {environment}\n\n{_trailers(ctx, reason)}"
        step(ctx, 2, f"committing {app} {version}")
        commit = _push(repo, current, version, current.image, message)
        step(ctx, 3, f"pushed {commit[:12]}")
    return Change(
        environment=environment,
        app=app,
        version=version,
        previous_version=current.version,
        changed=True,
        commit=commit,
        message=f"{app} {version} committed to {environment} as {commit[:12]}",
    )


def _previous_release(repo: Repository, current: Manifest) -> tuple[str, Manifest]:
    """The newest commit in the file's history whose version differs from the current one."""
    for entry in repo.log(current.path):
        then = _version_at(repo, entry.commit, current.path)
        if then is not None and then.version != current.version:
            return entry.commit, then
    raise NotFound(
        f"{current.path} has no earlier version than {current.version} in its history",
        version=current.version,
    )


def _rollback_target(
    repo: Repository, current: Manifest, wanted: str | None
) -> tuple[str, Manifest]:
    """The commit to restore and the app's manifest there: the one before the current release,
    or the release at ``wanted``."""
    if wanted is None:
        return _previous_release(repo, current)
    resolved = repo.resolve(wanted)
    if resolved is None:
        raise NotFound(f"commit {wanted} is not on branch {repo.branch}", commit=wanted)
    found = _version_at(repo, resolved, current.path)
    if found is None:
        raise NotFound(
            f"{current.path} has no usable manifest at commit {resolved[:12]}", commit=resolved
        )
    return resolved, found


@plugin.tool(
    scopes=["gitops:rollback"],
    conditional_scopes={PROTECTED_SCOPE: WHEN_PROTECTED},
    title="Roll back an app",
    destructive=True,
    idempotent=False,
)
def rollback(
    ctx: ToolContext[GitOpsSettings],
    environment: Name,
    app: Name,
    reason: Reason,
    to_commit: CommitId | None = None,
    confirm: bool = False,
) -> Change | Ask:
    """Put an app back on an earlier release, as a new commit (history is never rewritten).

    Without ``to_commit``: the version the app had before its current one. With it: the
    version (and image) the app had at that commit of the branch. Protected environments also
    need gitops:deploy:protected, and the user's confirmation (asked, or confirm=true).

    Args:
        environment: Environment name, e.g. production.
        app: App name, e.g. api.
        reason: Why, in one line (incident, ticket); kept in the commit.
        to_commit: A commit id (7-40 hex digits) from the app's history to restore.
        confirm: The user agreed to change this protected environment (for clients that
            cannot ask them).
    """
    repo, settings = _open(ctx)
    check_name("environment", environment)
    check_name("app", app)
    reason = check_reason(reason)
    wanted = None if to_commit is None else check_commit(to_commit)
    _require_protected(ctx, settings, environment)
    with _claims(ctx).claim(environment, app), repo.session():
        current = _load(repo, settings, environment, app)
        source, target = _rollback_target(repo, current, wanted)
        if (target.version, target.image) == (current.version, current.image):
            return _unchanged(environment, app, current.version, restored_from=source)
        question = (
            f"Roll {app} in {environment} back from {current.version} to {target.version}? {reason}"
        )
        ask = _confirmation(ctx, settings, environment, current, question, confirm)
        if ask is not None:
            return ask
        step(ctx, 1, f"read {current.path}: {current.version}, restoring {source[:12]}")
        message = (
            f"rollback {app} to {target.version} in {environment}\n\n"
            f"Restores: {source}\n{_trailers(ctx, reason)}"
        )
        step(ctx, 2, f"committing {app} {target.version}")
        commit = _push(repo, current, target.version, target.image, message)
        step(ctx, 3, f"pushed {commit[:12]}")
    return Change(
        environment=environment,
        app=app,
        version=target.version,
        previous_version=current.version,
        changed=True,
        commit=commit,
        restored_from=source,
        message=f"{app} rolled back to {target.version} in {environment} as {commit[:12]}",
    )


__all__ = ["GitOpsSettings", "plugin"]
