"""``ctx.pages``: cursors a plugin never encodes, signs or checks itself.

A cursor is opaque to agents and tamper-evident to the host: signed with a key the host keeps in
the shared database, bound to the tool and the caller's tenant. An edited, made-up or borrowed
cursor is ``invalid_input``; a genuine one works on every replica and after a restart.
"""

from __future__ import annotations

import base64
import json

import pytest
from conftest import TEST_PLUGINS

from plughost import Pages

BOTH = ["notes:read", "notes:write"]


@pytest.fixture
def notes_dist(make_dist):
    make_dist("acme-notes", TEST_PLUGINS / "pagination_notes.py", namespace="notes")


def add_notes(host, count: int, tenant: str = "tenant-a") -> None:
    writer = host.client(BOTH, tenant=tenant)
    for n in range(count):
        assert writer.call("notes_add", body=f"note {n}").ok


def all_pages(agent, **arguments) -> list[str]:
    seen, cursor = [], None
    while True:
        page = agent.call("notes_search", **arguments, **({"cursor": cursor} if cursor else {}))
        assert page.ok, page.body
        seen += page.data["bodies"]
        cursor = page.data["next_cursor"]
        if cursor is None:
            return seen


def test_pages_cover_every_item_once(plughost_factory, notes_dist):
    host = plughost_factory(plugins=["notes"], in_process=True)
    add_notes(host, 8)
    reader = host.client(["notes:read"])
    assert all_pages(reader) == [f"note {n}" for n in range(8)]
    assert all_pages(reader, limit=8) == [f"note {n}" for n in range(8)]
    first = reader.call("notes_search").data
    assert len(first["bodies"]) == 3
    assert '"id"' not in first["next_cursor"], "a cursor is opaque, not JSON an agent edits"


def test_edited_made_up_and_borrowed_cursors_are_invalid_input(plughost_factory, notes_dist):
    host = plughost_factory(plugins=["notes"], in_process=True)
    add_notes(host, 5)
    add_notes(host, 5, tenant="tenant-b")
    reader = host.client(["notes:read"])
    cursor = reader.call("notes_search").data["next_cursor"]
    payload, mac = cursor.split(".")
    position = json.loads(base64.urlsafe_b64decode(payload + "=="))
    edited = base64.urlsafe_b64encode(json.dumps({**position, "id": 0}).encode()).decode()
    forged = [
        f"{edited.rstrip('=')}.{mac}",
        f"{payload}.{mac[:-2]}AA",
        "bm90LWEtY3Vyc29y",
        "x" * 5000,
    ]
    for bad in forged:
        call = reader.call("notes_search", cursor=bad)
        assert call.error["code"] == "invalid_input", (bad[:40], call.body)
    other_tenant = host.client(["notes:read"], tenant="tenant-b")
    assert other_tenant.call("notes_search", cursor=cursor).error["code"] == "invalid_input"
    other_tool = reader.call("notes_list", cursor=cursor)
    assert other_tool.error["code"] == "invalid_input"
    assert "start from the first page" in other_tool.error["message"]
    assert reader.call("notes_search", cursor=cursor).ok


def test_page_sizes_are_bounded(plughost_factory, notes_dist):
    host = plughost_factory(plugins=["notes"], in_process=True)
    reader = host.client(["notes:read"])
    (search,) = [t for t in reader.list_tools() if t["name"] == "notes_search"]
    assert search["inputSchema"]["properties"]["limit"]["maximum"] == 100
    assert reader.call("notes_search", limit=101).error["code"] == "invalid_input"
    assert reader.call("notes_everything").error["code"] == "internal_error"


def test_a_cursor_works_on_another_replica_and_after_a_restart(
    plughost_factory, notes_dist, tmp_path
):
    database = {"database_url": f"sqlite:///{tmp_path / 'shared.db'}"}
    one = plughost_factory(plugins=["notes"], settings=database, in_process=True)
    two = plughost_factory(plugins=["notes"], settings=database, in_process=True)
    add_notes(one, 5)
    cursor = one.client(["notes:read"]).call("notes_search").data["next_cursor"]
    assert two.client(["notes:read"]).call("notes_search", cursor=cursor).data["bodies"] == [
        "note 3",
        "note 4",
    ]
    one.restart()
    assert one.client(["notes:read"]).call("notes_search", cursor=cursor).ok


def test_pages_refuse_a_page_beyond_the_bound_and_a_short_key():
    pages = Pages(lambda: b"k" * 32, "notes_search\x00acme")
    with pytest.raises(ValueError, match=r"outside 1\.\.500"):
        pages.page([1, 2], 501, lambda row: row)
    with pytest.raises(ValueError, match="at least 16 bytes"):
        Pages(lambda: b"short", "x").cursor(1)
    assert pages.after(pages.cursor({"id": 7})) == {"id": 7}
    assert pages.after(None) is None
