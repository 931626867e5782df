"""``plughost serve`` replaces a server process that dies, whatever its exit code (issue 26).

A plugin (tests/plugins/serve_exits.py) ends the process serving it with ``os._exit(3)``
(the code uvicorn reads as a failure to start, which used to stop the whole server) or is
killed by a signal; the server comes back on the same port from a new process. A manager
killed with SIGKILL leaves no server process behind, and settings that cannot start a server
still stop ``plughost serve`` with an error instead of restarting forever.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from conftest import TEST_PLUGINS, DistFactory
from processes import Served, cli_env, run_cli, serve

BACK_WITHIN = 30.0


def _env(root: Path) -> dict[str, str]:
    """A data directory and the ``exits`` plugin installed, for a served host."""
    (root / "site").mkdir()
    DistFactory(root / "site")("plughost-exits", TEST_PLUGINS / "serve_exits.py", namespace="exits")
    return cli_env(root / "data", PYTHONPATH=str(root / "site"), PLUGHOST_AUDIT__SINK="off")


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    server = serve(_env(tmp_path_factory.mktemp("supervised")), "--log-level", "warning")
    yield server
    server.stop()


def _serving_pid(served: Served, since: float) -> int:
    """The process serving once the server answers again (waits for a replacement)."""
    agent = served.client("exits:use")
    while time.monotonic() - since < BACK_WITHIN:
        try:
            reply = agent.call("exits_pid")
            if reply.ok:
                return int(reply.data["result"])
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise AssertionError("the server did not come back")


@pytest.mark.parametrize("code", [3, 1])
def test_a_server_process_that_exits_is_replaced_whatever_its_code(served: Served, code: int):
    before = _serving_pid(served, time.monotonic())
    with pytest.raises(httpx.TransportError):
        served.client("exits:use").call("exits_quit", code=code)
    after = _serving_pid(served, time.monotonic())
    assert after != before
    assert served.proc.poll() is None
    assert served.client("todo:read").call("todo_list").ok


def test_a_server_process_killed_by_a_signal_is_replaced(served: Served):
    before = _serving_pid(served, time.monotonic())
    os.kill(before, signal.SIGSEGV)
    assert _serving_pid(served, time.monotonic()) != before
    assert served.proc.poll() is None


def test_a_killed_manager_leaves_no_server_behind(tmp_path: Path):
    server = serve(_env(tmp_path), "--log-level", "warning")
    child = _serving_pid(server, time.monotonic())
    server.proc.kill()
    server.proc.wait(10)
    deadline = time.monotonic() + 15
    while _alive(child):
        assert time.monotonic() < deadline, "the server process outlived its manager"
        time.sleep(0.1)


def test_settings_that_cannot_start_a_server_still_stop_serve(tmp_path: Path):
    env = cli_env(tmp_path / "data", PLUGHOST_MAX_JSON_DEPTH="2")
    done = run_cli(env, "serve", "--port", "0", timeout=60)
    assert done.returncode != 0
    assert "PLUGHOST_MAX_JSON_DEPTH" in done.stderr


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return not Path(f"/proc/{pid}/status").read_text().count("State:\tZ")
