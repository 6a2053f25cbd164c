"""Parallel requests through several gunicorn workers, as Entra sends them.

Entra provisions with many requests in flight, also PATCHes to one group.
Whatever the interleaving: no member is lost or doubled, no request gets a
5xx, and of two creates of one userName exactly one wins.
"""

import threading
import uuid
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest
from live import LiveServer
from live import run_live_server

PATCH_OP = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
USER = "urn:ietf:params:scim:schemas:core:2.0:User"
GROUP = "urn:ietf:params:scim:schemas:core:2.0:Group"
THREADS = 16
USERS = 40

FOUR_WORKERS = pytest.mark.parametrize("live_server", [{"workers": 4}], indirect=True)


class Pool:
    """Send requests from THREADS threads, each with its own connection."""

    def __init__(self, *servers: LiveServer):
        self.servers = servers
        self.local = threading.local()

    def client(self, index: int) -> httpx.Client:
        clients = getattr(self.local, "clients", None)
        if clients is None:
            clients = self.local.clients = [s.client(timeout=60.0) for s in self.servers]
        return clients[index % len(clients)]

    def run(self, calls: list[Callable[[httpx.Client], httpx.Response]]) -> list[httpx.Response]:
        """Run each call on some thread, spread over the servers; return responses in order."""
        with ThreadPoolExecutor(THREADS) as pool:
            futures = [pool.submit(lambda i=i, c=c: c(self.client(i))) for i, c in enumerate(calls)]
            return [future.result() for future in futures]


def patch(ops: list[dict[str, Any]]) -> dict[str, Any]:
    return {"schemas": [PATCH_OP], "Operations": ops}


def add_one(user_id: str, op: str = "Add") -> dict[str, Any]:
    """Entra's one-member add; "Add" without the compliance flag, "add" with it."""
    return patch([{"op": op, "path": "members", "value": [{"value": user_id}]}])


def remove_legacy(user_id: str) -> dict[str, Any]:
    return patch([{"op": "Remove", "path": "members", "value": [{"value": user_id}]}])


def remove_flag(user_id: str) -> dict[str, Any]:
    return patch([{"op": "remove", "path": f'members[value eq "{user_id}"]'}])


def new_user(name: str) -> dict[str, Any]:
    return {
        "schemas": [USER],
        "userName": name,
        "externalId": str(uuid.uuid4()),
        "displayName": name.split("@")[0],
        "active": True,
        "emails": [{"value": name, "type": "work", "primary": True}],
    }


def statuses(responses: list[httpx.Response]) -> Counter:
    return Counter(r.status_code for r in responses)


def create_users(pool: Pool, count: int, prefix: str) -> list[str]:
    names = [f"{prefix}{i:02d}@contoso.example" for i in range(count)]
    responses = pool.run([lambda c, n=n: c.post("/Users", json=new_user(n)) for n in names])
    assert statuses(responses) == {201: count}, [r.text for r in responses if r.status_code != 201]
    return [r.json()["id"] for r in responses]


def create_group(client: httpx.Client, name: str, members: list[str] = ()) -> str:
    body = {
        "schemas": [GROUP],
        "displayName": name,
        "externalId": str(uuid.uuid4()),
        "members": [{"value": m} for m in members],
    }
    response = client.post("/Groups", json=body)
    assert response.status_code == 201, response.text
    return response.json()["id"]


def member_ids(client: httpx.Client, group_id: str) -> list[str]:
    response = client.get(f"/Groups/{group_id}")
    assert response.status_code == 200, response.text
    return [m["value"] for m in response.json().get("members", [])]


def version_of(client: httpx.Client, group_id: str) -> str:
    return client.get(f"/Groups/{group_id}").json()["meta"]["version"]


def assert_all_204(responses: list[httpx.Response]) -> None:
    bad = [(r.status_code, r.text) for r in responses if r.status_code != 204]
    assert not bad, f"{len(bad)} of {len(responses)} PATCHes failed: {bad[:5]}"


def assert_no_server_error(server: LiveServer) -> None:
    """Check gunicorn's output: no traceback, no database failure, no worker timeout."""
    log = server.log()
    for sign in ("Traceback", "failed on the database", "WORKER TIMEOUT", " ERROR in "):
        assert sign not in log, log[-5000:]


@FOUR_WORKERS
def test_parallel_member_adds_to_one_group_lose_nothing(live_server):
    pool = Pool(live_server)
    users = create_users(pool, USERS, "add")
    with live_server.client() as client:
        group = create_group(client, "Parallel adds")

    # One-member adds in both of Entra's shapes, plus batches that overlap them.
    calls = [
        lambda c, u=u, i=i: c.patch(f"/Groups/{group}", json=add_one(u, "Add" if i % 2 else "add"))
        for i, u in enumerate(users)
    ]
    batches = [users[i : i + 8] for i in range(0, USERS, 8)]
    calls += [
        lambda c, b=b: c.patch(
            f"/Groups/{group}",
            json=patch([{"op": "add", "path": "members", "value": [{"value": u} for u in b]}]),
        )
        for b in batches
    ]
    responses = pool.run(calls)

    assert_all_204(responses)
    with live_server.client() as client:
        members = member_ids(client, group)
        # Each PATCH bumped the version exactly once: none was lost or merged.
        assert version_of(client, group) == f'W/"{1 + len(calls)}"'
    assert sorted(members) == sorted(users)
    assert len(members) == len(set(members))
    assert_no_server_error(live_server)


@FOUR_WORKERS
def test_parallel_removes_while_adding_leave_the_exact_set(live_server):
    pool = Pool(live_server)
    users = create_users(pool, USERS, "mix")
    first, doomed, kept = users[:8], users[8:18], users[18:26]
    added, outsiders = users[26:36], users[36:]
    with live_server.client() as client:
        group = create_group(client, "Removes while adding", first + doomed + kept)

    calls = []
    for i, user in enumerate(doomed):
        body = remove_legacy(user) if i % 2 else remove_flag(user)
        calls.append(lambda c, b=body: c.patch(f"/Groups/{group}", json=b))
    for user in added:
        calls.append(lambda c, u=user: c.patch(f"/Groups/{group}", json=add_one(u)))
    # Re-adding members and removing users who were never members change nothing.
    for user in first[:5]:
        calls.append(lambda c, u=user: c.patch(f"/Groups/{group}", json=add_one(u, "add")))
    for user in outsiders:
        calls.append(lambda c, u=user: c.patch(f"/Groups/{group}", json=remove_flag(u)))
    # Interleave adds and removes so they really run side by side.
    calls = calls[::2] + calls[1::2]
    responses = pool.run(calls)

    assert_all_204(responses)
    with live_server.client() as client:
        members = member_ids(client, group)
        assert version_of(client, group) == f'W/"{1 + len(calls)}"'
    assert sorted(members) == sorted(first + kept + added)
    assert_no_server_error(live_server)


def race(pool: Pool, send: Callable[[httpx.Client, int], httpx.Response]) -> list[httpx.Response]:
    """Send THREADS requests released at one instant."""
    barrier = threading.Barrier(THREADS)

    def call(client: httpx.Client, i: int) -> httpx.Response:
        barrier.wait(timeout=30)
        return send(client, i)

    return pool.run([lambda c, i=i: call(c, i) for i in range(THREADS)])


def assert_one_created(responses: list[httpx.Response]) -> None:
    assert statuses(responses) == {201: 1, 409: THREADS - 1}, [r.text for r in responses]
    for response in responses:
        assert response.headers["Content-Type"].startswith("application/scim+json")
        if response.status_code == 409:
            assert response.json()["scimType"] == "uniqueness"
            assert response.json()["status"] == "409"


@FOUR_WORKERS
def test_parallel_creates_of_one_name_give_one_201(live_server):
    pool = Pool(live_server)
    # userName compares case-insensitively, so these spellings are one name.
    names = ["Racer@Contoso.example", "racer@contoso.example", "RACER@CONTOSO.EXAMPLE"]

    users = race(pool, lambda c, i: c.post("/Users", json=new_user(names[i % len(names)])))
    groups = race(
        pool,
        lambda c, i: c.post("/Groups", json={"schemas": [GROUP], "displayName": "Racing Team"}),
    )

    assert_one_created(users)
    assert_one_created(groups)
    with live_server.client() as client:
        found = client.get("/Users", params={"filter": 'userName eq "racer@contoso.example"'})
        assert found.json()["totalResults"] == 1
        found = client.get("/Groups", params={"filter": 'displayName eq "racing team"'})
        assert found.json()["totalResults"] == 1
    assert_no_server_error(live_server)


def test_two_app_instances_share_one_group_without_losing_members(db_url):
    """Two gunicorns on one database, as two hosts behind a load balancer."""
    with run_live_server(db_url, workers=2) as first:
        with run_live_server(db_url, workers=2, token=first.token) as second:
            pool = Pool(first, second)
            users = create_users(pool, 24, "lb")
            leaving, joining = users[:8], users[8:]
            with first.client() as client:
                group = create_group(client, "Across instances", leaving)
            calls = [lambda c, u=u: c.patch(f"/Groups/{group}", json=add_one(u)) for u in joining]
            calls += [
                lambda c, u=u: c.patch(f"/Groups/{group}", json=remove_legacy(u)) for u in leaving
            ]
            assert_all_204(pool.run(calls[::2] + calls[1::2]))
            with second.client() as client:
                members = member_ids(client, group)
            assert sorted(members) == sorted(joining)
            assert_no_server_error(first)
            assert_no_server_error(second)
