"""A plugin that misbehaves on demand, to be served isolated (tests/test_isolation_faults.py).

Each way it misbehaves is one the host cannot contain inside its own process: a busy loop
that competes for the CPU, a C call that holds the GIL for minutes, memory that grows without
bound, ``os._exit``, and a segfault.
"""

import ctypes
import os
import re
import time
from typing import Literal

from plughost import Plugin, ToolContext

plugin = Plugin(scopes={"faulty:use": "Make the faulty plugin misbehave"})

#: What `leak` keeps alive, so the garbage collector cannot free it.
KEPT: list[bytes] = []

How = Literal["busy", "regex", "leak", "exit", "segfault"]


@plugin.tool(scopes=["faulty:use"], timeout=1)
def misbehave(ctx: ToolContext, how: How, seconds: float = 2.0) -> str:
    "Misbehave as asked."
    if how == "busy":
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            pass
    elif how == "regex":
        re.match(r"(a+)+$", "a" * 40 + "b")  # catastrophic backtracking, GIL held throughout
    elif how == "leak":
        while True:
            KEPT.append(b"x" * (32 * 1024 * 1024))
            time.sleep(0.02)
    elif how == "exit":
        os._exit(3)
    elif how == "segfault":
        ctypes.string_at(0)
    return how


@plugin.tool(scopes=["faulty:use"])
def alive(ctx: ToolContext) -> dict:
    "Answer, with the process that answered."
    return {"pid": os.getpid(), "subject": ctx.caller.subject}


@plugin.on_shutdown
def stopped(runtime) -> None:
    "Mark that the worker shut its plugin down (not killed), where FAULTY_SHUTDOWN_MARKER says."
    marker = os.environ.get("FAULTY_SHUTDOWN_MARKER")
    if marker:
        with open(marker, "a") as out:
            out.write(f"{os.getpid()}\n")
