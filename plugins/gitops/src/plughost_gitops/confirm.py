"""Asking the user before a protected environment changes, and saying how a change goes.

A deploy or rollback to a protected environment (production) is the kind of change a person
should see before an agent makes it: the tool asks its user (MCP elicitation) and commits
only on an accepted answer. The tool's function runs again from the top with the answer, so
the question is asked after everything is checked and before anything is written. A client
that cannot ask (an older protocol version) gets an error telling it to confirm with the user
and call again with ``confirm=true``; the operator can switch the question off
(``confirm_protected``), leaving the protected scope as the only guard.
"""

from __future__ import annotations

from plughost import Conflict, ToolContext, ToolError
from plughost.elicitation import Ask

#: The steps of a change, as progress: read, write and push.
STEPS = 3


class NotConfirmed(ToolError):
    """The user declined (or dismissed) the question: nothing was changed."""

    code = "not_confirmed"


def confirmation(
    ctx: ToolContext,
    environment: str,
    question: str,
    *,
    now: str,
    confirm: bool,
    protected: bool,
) -> Ask | None:
    """The question to return when the change still needs the user's yes; None to go ahead.

    ``now`` is the version the user is told the app runs; it is remembered with the question,
    and a change made meanwhile by someone else is a conflict: the user agreed to another
    change than the one that would be made. Raises `NotConfirmed` when the user said no, and
    `InputUnavailable` (through `ToolContext.ask`) when the client cannot ask and ``confirm``
    was not given.
    """
    if confirm or not protected:
        return None
    answer = ctx.answer("confirm")
    if answer is None:
        return ctx.ask(
            "confirm",
            question,
            remember={"now": now},
            fallback=f"{environment} is a protected environment: show the user what will "
            "change, and once they agree call again with confirm=true",
        )
    if not answer.accepted:
        verb = "declined" if answer.action == "decline" else "cancelled"
        raise NotConfirmed(
            f"the user {verb} the change to {environment}: nothing was changed",
            environment=environment,
            action=answer.action,
        )
    asked_at = ctx.remembered.get("now")
    if asked_at != now:
        raise Conflict(
            f"the app went from {asked_at} to {now} in {environment} while the user was "
            "asked; nothing was changed: call again to ask about the change as it is now",
            current_version=now,
        )
    return None


def step(ctx: ToolContext, done: int, message: str) -> None:
    """One step of the change as progress, for a client that follows it."""
    ctx.progress(done, STEPS, message)
