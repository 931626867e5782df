"""Turn a plugin's `ToolSpec` into a FastMCP tool named ``<namespace>_<tool>``.

The plugin's function takes a `ToolContext` first; agents must never see that parameter. The
adapter builds a function with the same signature minus the context (type hints resolved in the
plugin's own module, so ``from __future__ import annotations`` works), which FastMCP turns into
the input schema and validates against. Plugin errors become structured error results.
"""

from __future__ import annotations

import functools
import inspect
import typing
from collections.abc import Callable
from typing import Any

import anyio.to_thread
from fastmcp.tools import Tool
from fastmcp.tools.base import ToolResult
from mcp.types import ToolAnnotations

from plughost.ops.logs import request_id
from plughost.sdk.context import Caller, PluginRuntime, ToolContext
from plughost.sdk.errors import ToolError
from plughost.sdk.plugin import ToolSpec

META_KEY = "plughost"

CallerSource = Callable[[], Caller]
StorageFactory = Callable[[str], Any]


def build_tool(
    *,
    runtime: PluginRuntime,
    spec: ToolSpec,
    public_name: str,
    storage_for: StorageFactory,
    caller: CallerSource,
) -> Tool:
    """Adapt one plugin tool. ``caller`` yields the verified caller of the current request."""
    fn = spec.fn
    signature = inspect.signature(fn)
    params = list(signature.parameters.values())
    if not params or params[0].kind not in (
        inspect.Parameter.POSITIONAL_ONLY,
        inspect.Parameter.POSITIONAL_OR_KEYWORD,
    ):
        raise TypeError(f"tool {public_name!r} must take a ToolContext as its first parameter")
    if any(p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD) for p in params):
        raise TypeError(f"tool {public_name!r} may not take *args or **kwargs; name each argument")
    hints = typing.get_type_hints(fn, include_extras=True)
    arguments = [p.replace(annotation=hints.get(p.name, p.annotation)) for p in params[1:]]
    returns = hints.get("return", signature.return_annotation)
    is_async = inspect.iscoroutinefunction(fn)
    namespace, version = runtime.namespace, runtime.version

    async def call(**kwargs: Any) -> Any:
        who = caller()
        ctx = ToolContext(
            caller=who,
            settings=runtime.settings,
            storage=storage_for(who.tenant_id),
            logger=runtime.logger,
            plugin=namespace,
            plugin_version=version,
            data_dir=runtime.data_dir,
            state=runtime.state,
        )
        try:
            with anyio.fail_after(spec.timeout):
                if is_async:
                    return await fn(ctx, **kwargs)
                return await anyio.to_thread.run_sync(
                    functools.partial(fn, ctx, **kwargs), abandon_on_cancel=True
                )
        except ToolError as exc:
            return _error_result(exc.to_dict())
        except TimeoutError:
            runtime.logger.warning("tool %s timed out after %ss", public_name, spec.timeout)
            return _error_result(
                {
                    "code": "timeout",
                    "message": f"{public_name} did not finish within {spec.timeout}s",
                }
            )
        except Exception:
            rid = request_id.get()
            runtime.logger.exception("tool %s failed", public_name)
            return _error_result(
                {
                    "code": "internal_error",
                    "message": "the tool failed unexpectedly; give this request id to the "
                    f"operator: {rid}",
                    "details": {"request_id": rid},
                }
            )

    call.__name__ = spec.name
    call.__qualname__ = spec.name
    call.__doc__ = fn.__doc__
    call.__signature__ = signature.replace(  # type: ignore[attr-defined]
        parameters=arguments, return_annotation=returns
    )
    call.__annotations__ = {p.name: p.annotation for p in arguments}
    if returns is not inspect.Signature.empty:
        call.__annotations__["return"] = returns

    annotations = ToolAnnotations(
        title=spec.title,
        read_only_hint=spec.read_only,
        destructive_hint=spec.destructive,
        idempotent_hint=spec.idempotent,
        open_world_hint=spec.open_world,
    )
    return Tool.from_function(
        call,
        name=public_name,
        title=spec.title,
        description=spec.description,
        annotations=annotations,
        meta={META_KEY: {"plugin": namespace, "version": version, "scopes": list(spec.scopes)}},
    )


def _error_result(error: dict[str, Any]) -> ToolResult:
    return ToolResult(
        content=f"{error['code']}: {error['message']}",
        structured_content={"error": error},
        is_error=True,
    )
