"""`CpuCap` on a real busy process: stopped while over its share, running while the cap is
lifted (the host's ping after a deadline), and never left stopped once released."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator

import anyio
import pytest

from plughost.core.isolation.cpu_cap import CpuCap, cpu_seconds


@pytest.fixture
def busy() -> Iterator[subprocess.Popen[bytes]]:
    """A process busy-looping in a process group of its own, as a worker runs."""
    process = subprocess.Popen([sys.executable, "-c", "while True: pass"], start_new_session=True)
    try:
        yield process
    finally:
        process.kill()
        process.wait()


def _state(pid: int) -> str:
    with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
        return stat.read().rsplit(")", 1)[1].split()[0]


async def _until_state(pid: int, stopped: bool) -> None:
    with anyio.fail_after(10):
        while (_state(pid) == "T") is not stopped:
            await anyio.sleep(0.005)


def test_cpu_seconds_reads_proc_and_is_none_for_a_gone_process(
    busy: subprocess.Popen[bytes],
) -> None:
    used = cpu_seconds(busy.pid)
    assert used is not None and used >= 0
    assert cpu_seconds(2**22 + 1) is None  # above Linux's largest pid


def test_a_capped_process_is_stopped_lifted_and_released(busy: subprocess.Popen[bytes]) -> None:
    async def main() -> None:
        cap = CpuCap(busy.pid, 5)
        async with anyio.create_task_group() as tasks:
            tasks.start_soon(cap.run)
            await _until_state(busy.pid, stopped=True)
            with cap.lifted():
                assert _state(busy.pid) != "T"  # continued at once
                for _ in range(20):  # and not stopped again while lifted
                    await anyio.sleep(0.01)
                    assert _state(busy.pid) != "T"
            await _until_state(busy.pid, stopped=True)
            cap.release()
            assert _state(busy.pid) != "T"
            await anyio.sleep(0.2)  # the cap's task ends, without stopping it again
            assert _state(busy.pid) != "T"

    anyio.run(main)
