from __future__ import annotations

from typing import Any

import httpx
import pytest
from simulator_support import captured_id, post

pytestmark = pytest.mark.anyio


async def open_dispute(client: httpx.AsyncClient) -> dict[str, Any]:
    response = await client.post(
        "/admin/disputes", json={"authorization": await captured_id(client)}
    )
    assert response.status_code == 200
    dispute: dict[str, Any] = response.json()
    return dispute


async def poll(client: httpx.AsyncClient, changed_after: int, limit: int = 100) -> dict[str, Any]:
    response = await client.get(
        "/v1/disputes", params={"changed_after": changed_after, "limit": limit}
    )
    assert response.status_code == 200, response.text
    page: dict[str, Any] = response.json()
    return page


async def drain(client: httpx.AsyncClient, cursor: int, limit: int) -> tuple[list[Any], int]:
    """Every change after `cursor`, page by page, and the cursor to poll from next."""
    changes: list[Any] = []
    while True:
        page = await poll(client, cursor, limit)
        assert page["object"] == "list"
        assert len(page["data"]) <= limit
        changes += page["data"]
        if page["data"]:
            cursor = page["data"][-1]["change_seq"]
        if not page["has_more"]:
            return changes, cursor


async def test_polling_sees_each_change_once_in_order(client: httpx.AsyncClient) -> None:
    opened = [await open_dispute(client) for _ in range(5)]
    seen, cursor = await drain(client, 0, limit=2)
    assert [d["id"] for d in seen] == [d["id"] for d in opened]
    assert [d["change_seq"] for d in seen] == [1, 2, 3, 4, 5]
    assert await poll(client, cursor) == {"object": "list", "data": [], "has_more": False}

    # Each kind of change moves a dispute to the end of the feed, once.
    won = await client.post(f"/admin/disputes/{opened[3]['id']}/status", json={"status": "won"})
    evidence = await post(
        client, f"/v1/disputes/{opened[0]['id']}/evidence", {"evidence": {"customer_name": "A"}}
    )
    closed = await post(client, f"/v1/disputes/{opened[1]['id']}/close", {})
    newest = await open_dispute(client)
    changes, next_cursor = await drain(client, cursor, limit=3)
    assert changes == [won.json(), evidence.json(), closed.json(), newest]
    assert [d["change_seq"] for d in changes] == [6, 7, 8, 9]
    assert next_cursor == 9
    assert (await poll(client, next_cursor))["data"] == []


async def test_a_full_page_says_whether_more_follow(client: httpx.AsyncClient) -> None:
    for _ in range(3):
        await open_dispute(client)
    assert (await poll(client, 0, limit=3))["has_more"] is False
    first = await poll(client, 0, limit=2)
    assert (len(first["data"]), first["has_more"]) == (2, True)
    assert (await poll(client, 1, limit=2))["has_more"] is False


async def test_replays_and_refusals_are_not_changes(client: httpx.AsyncClient) -> None:
    dispute = await open_dispute(client)
    path = f"/v1/disputes/{dispute['id']}/close"
    assert (await post(client, path, {}, key="close")).status_code == 200
    assert (await post(client, path, {}, key="close")).status_code == 200
    assert (await post(client, path, {})).status_code == 409
    assert [d["change_seq"] for d in (await poll(client, 0))["data"]] == [2]


@pytest.mark.parametrize(
    ("params", "param"),
    [
        ({"limit": 0}, "limit"),
        ({"limit": 101}, "limit"),
        ({"changed_after": -1}, "changed_after"),
        ({"changed_after": "soon"}, "changed_after"),
        ({"starting_after": "psd_1"}, "starting_after"),
    ],
)
async def test_list_parameters_are_checked(
    client: httpx.AsyncClient, params: dict[str, int | str], param: str
) -> None:
    response = await client.get("/v1/disputes", params=params)
    assert (response.status_code, response.json()["error"]["param"]) == (400, param)


async def test_disputes_need_the_api_key(client: httpx.AsyncClient) -> None:
    client.headers.pop("Authorization")
    for path in ("/v1/disputes", "/v1/disputes/psd_x"):
        assert (await client.get(path)).status_code == 401
