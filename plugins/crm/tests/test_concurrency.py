"""Many agents writing at once through the real server: nothing lost, nothing doubled.

Threads wait at a barrier so their calls overlap; assertions are about outcomes only.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from conftest import all_pages

from plughost.testing import ToolCall

THREADS = 8
CALLS = 10


def _in_parallel(work: Callable[[int], Any], threads: int = THREADS) -> list[Any]:
    """Run ``work(n)`` for each thread number, all starting together; results in order."""
    barrier = threading.Barrier(threads)

    def run(n: int) -> Any:
        barrier.wait()
        return work(n)

    with ThreadPoolExecutor(max_workers=threads) as pool:
        return list(pool.map(run, range(threads)))


def test_concurrent_creates_and_logs_lose_and_double_nothing(connect, count_rows):
    agents = [connect() for _ in range(THREADS)]
    target = agents[0].ok("create_contact", name="Busy")

    def work(n: int) -> list[str]:
        ids = []
        for i in range(CALLS):
            contact = agents[n].ok("create_contact", name=f"c{n}-{i}", email=f"c{n}.{i}@x.example")
            agents[n].ok("log_activity", kind="note", summary=f"{n}-{i}", contact_id=target["id"])
            ids.append(contact["id"])
        return ids

    created = [i for ids in _in_parallel(work) for i in ids]
    assert len(set(created)) == THREADS * CALLS

    listed = all_pages(agents[0], "search_contacts", "contacts", query="x.example")
    assert sorted(c["id"] for c in listed) == sorted(created)
    assert count_rows("crm_contacts") == THREADS * CALLS + 1
    assert count_rows("crm_activities") == THREADS * CALLS


def test_same_version_updates_race_and_exactly_one_wins(connect):
    agents = [connect() for _ in range(THREADS)]
    contact = agents[0].ok("create_contact", name="Contested")

    def work(n: int) -> ToolCall:
        return agents[n].call("update_contact", id=contact["id"], version=1, title=f"title {n}")

    calls = _in_parallel(work)
    winners = [c for c in calls if c.ok]
    losers = [c.error for c in calls if not c.ok]
    assert len(winners) == 1
    assert len(losers) == THREADS - 1
    assert all(e["code"] == "conflict" and e["details"]["current_version"] == 2 for e in losers)
    final = agents[0].ok("get_contact", id=contact["id"])["contact"]
    assert final == winners[0].data and final["version"] == 2


def test_racing_for_one_email_leaves_one_contact(connect, count_rows):
    agents = [connect() for _ in range(THREADS)]

    def work(n: int) -> ToolCall:
        return agents[n].call("create_contact", name=f"Claimant {n}", email="one@x.example")

    calls = _in_parallel(work)
    (winner,) = [c.data for c in calls if c.ok]
    errors = [c.error for c in calls if not c.ok]
    assert Counter(e["code"] for e in errors) == {"duplicate_email": THREADS - 1}
    assert all(e["details"] == {"existing_contact_id": winner["id"]} for e in errors)
    assert count_rows("crm_contacts") == 1
