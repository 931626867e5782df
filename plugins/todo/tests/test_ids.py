"""Item ids are numbered per tenant, so an id tells nobody how many items others made."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from plughost.testing import ToolCall

WRITE = ["todo:read", "todo:write"]
THREADS = 8
CALLS = 5


@pytest.fixture
def host(plughost_factory):
    return plughost_factory(plugins=["todo"], settings={"plugins": {"todo": {"page_size": 100}}})


def test_another_tenants_first_id_reveals_nothing(host):
    acme = host.client(WRITE, tenant="acme")
    globex = host.client(WRITE, tenant="globex")
    made = [acme.call("todo_create", title=f"acme {n}").data["id"] for n in range(5)]
    assert made == [1, 2, 3, 4, 5]

    first = globex.call("todo_create", title="globex's first")
    assert first.ok, first.body
    assert first.data["id"] == 1
    assert globex.call("todo_get", id=1).data["title"] == "globex's first"
    assert acme.call("todo_get", id=1).data["title"] == "acme 0"
    assert acme.call("todo_create", title="acme 5").data["id"] == 6


def test_a_deleted_id_is_never_given_to_another_item(host):
    agent = host.client(WRITE)
    ids = [agent.call("todo_create", title=f"task {n}").data["id"] for n in range(2)]
    assert agent.call("todo_delete", id=ids[-1]).ok
    again = agent.call("todo_create", title="new task").data["id"]
    assert again == ids[-1] + 1
    assert agent.call("todo_get", id=ids[-1]).error["code"] == "not_found"


def test_concurrent_creates_in_one_tenant_all_land_with_unique_ids(host):
    """Threads start together at a barrier, so they race for the tenant's next id."""
    clients = [host.client(WRITE) for _ in range(THREADS)]
    barrier = threading.Barrier(THREADS)

    def work(n: int) -> list[ToolCall]:
        barrier.wait()
        return [clients[n].call("todo_create", title=f"{n}-{i}") for i in range(CALLS)]

    with ThreadPoolExecutor(max_workers=THREADS) as pool:
        calls = [call for batch in pool.map(work, range(THREADS)) for call in batch]
    assert all(call.ok for call in calls), [c.body for c in calls if not c.ok]

    ids = sorted(call.data["id"] for call in calls)
    assert ids == list(range(1, THREADS * CALLS + 1))
    listed = host.client(WRITE).call("todo_list").data["items"]
    assert sorted((item["id"], item["title"]) for item in listed) == sorted(
        (call.data["id"], call.data["title"]) for call in calls
    )
