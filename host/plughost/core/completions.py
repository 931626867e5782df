"""`Completions`: the one ``completion/complete`` handler, answering for every plugin.

MCP has one completion endpoint per server; each plugin declares completers next to its
prompts and resource templates (``complete={"argument": fn}``). This dispatcher finds the
completer for the referenced prompt or template and argument and runs it like a tool (the
caller's context, the plugin's threads or loop, a deadline). The call policy has already
admitted the request against the referenced target's scopes, so a caller can only complete
what it may use; a target or argument without a completer gets no values. A target another
MCP server serves (a mount's, an isolated plugin's) is completed by asking that server
(`forward`, from `plughost.core.forwarded_components`).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

from mcp.types import CompletionArgument, PromptReference, ResourceTemplateReference

from plughost.core.component_adapter import ComponentInvoker

#: MCP caps a completion's values at 100.
MAX_VALUES = 100

#: Completes an argument of a forwarded target: the argument, the other arguments given.
Forwarded = Callable[[CompletionArgument, Mapping[str, str] | None], Awaitable[list[str]]]


class Completions:
    def __init__(self) -> None:
        self._completers: dict[tuple[str, str, str], ComponentInvoker] = {}
        self._forwarded: dict[tuple[str, str], Forwarded] = {}

    def add(self, kind: str, target: str, argument: str, invoke: ComponentInvoker) -> None:
        """Complete ``argument`` of a ``kind`` target (prompt name, template URI) by ``invoke``."""
        self._completers[(kind, target, argument)] = invoke

    def forward(self, kind: str, target: str, complete: Forwarded) -> None:
        """Complete every argument of a forwarded ``kind`` target by asking its server."""
        self._forwarded[(kind, target)] = complete

    def withdraw(self, targets: Sequence[str]) -> None:
        """Forget the completers of withdrawn targets."""
        gone = set(targets)
        self._completers = {k: v for k, v in self._completers.items() if k[1] not in gone}
        self._forwarded = {k: v for k, v in self._forwarded.items() if k[1] not in gone}

    def __bool__(self) -> bool:
        """Whether any plugin completes anything (only then is the capability advertised)."""
        return bool(self._completers or self._forwarded)

    async def __call__(
        self,
        ref: PromptReference | ResourceTemplateReference,
        argument: CompletionArgument,
        context: Any = None,
    ) -> list[str]:
        if isinstance(ref, PromptReference):
            key = ("prompt", ref.name, argument.name)
        else:
            key = ("resource", str(ref.uri), argument.name)
        forwarded = self._forwarded.get(key[:2])
        if forwarded is not None:
            given = getattr(context, "arguments", None)
            return await forwarded(argument, given)
        invoke = self._completers.get(key)
        if invoke is None:
            return []
        values: list[str] = await invoke({"value": argument.value}, _values)
        return values


def _values(found: Any) -> list[str]:
    """What a completer returned, as at most `MAX_VALUES` strings."""
    if isinstance(found, str) or not isinstance(found, Sequence | set | frozenset):
        raise TypeError(f"a completer returns a list of strings, not {type(found).__name__}")
    return [str(value) for value in list(found)[:MAX_VALUES]]
