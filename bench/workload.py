"""Entra's requests, as the benchmark replays them: payloads, lookups, creates and PATCHes.

The shapes follow what Entra sends: a filter lookup on userName (or displayName
for a group) before each create, groups created empty and then grown by member
PATCHes (one member per request, and in batches), and PATCH replace for updates,
with the legacy capitalised op and the "False" string for a disable.
"""

from collections.abc import Callable
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

from .client import Client

USER = "urn:ietf:params:scim:schemas:core:2.0:User"
GROUP = "urn:ietf:params:scim:schemas:core:2.0:Group"
PATCH_OP = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
DOMAIN = "bench.example"
WINDOW = 4  # groups whose member PATCHes are sent together

Task = Callable[[Client], None]


def user_name(index: int) -> str:
    """Return the userName of the index-th user."""
    return f"user{index:06d}@{DOMAIN}"


def group_name(index: int) -> str:
    """Return the displayName of the index-th group."""
    return f"Bench Group {index:05d}"


def user_body(index: int) -> dict[str, Any]:
    """Return the POST body Entra sends for the index-th user (default mappings)."""
    name = user_name(index)
    return {
        "schemas": [USER],
        "externalId": f"ext-{index:06d}",
        "userName": name,
        "active": True,
        "displayName": f"User {index:06d}",
        "name": {"givenName": "User", "familyName": f"{index:06d}"},
        "emails": [{"primary": True, "type": "work", "value": name}],
    }


def group_body(index: int) -> dict[str, Any]:
    """Return the POST body Entra sends for the index-th group (no members yet)."""
    return {
        "schemas": [GROUP],
        "externalId": f"gext-{index:05d}",
        "displayName": group_name(index),
    }


def filter_path(collection: str, attribute: str, value: str) -> str:
    """Return Entra's lookup: GET /Users?filter=userName eq "value"."""
    return f"/{collection}?filter=" + quote(f'{attribute} eq "{value}"', safe="")


def add_members(user_ids: list[str]) -> dict[str, Any]:
    """Return Entra's member-add PATCH (legacy "Add"), one or many members."""
    value = [{"value": uid} for uid in user_ids]
    return {"schemas": [PATCH_OP], "Operations": [{"op": "Add", "path": "members", "value": value}]}


def replace_names(index: int) -> dict[str, Any]:
    """Return an incremental update: new displayName and familyName."""
    return {
        "schemas": [PATCH_OP],
        "Operations": [
            {"op": "Replace", "path": "displayName", "value": f"Renamed {index:06d}"},
            {"op": "Replace", "path": "name.familyName", "value": f"R{index:06d}"},
        ],
    }


def disable() -> dict[str, Any]:
    """Return Entra's legacy disable: op "Replace", value the string "False"."""
    return {
        "schemas": [PATCH_OP],
        "Operations": [{"op": "Replace", "path": "active", "value": "False"}],
    }


# ---------------------------------------------------------------------------
# Tasks: each runs on one client thread, in order
# ---------------------------------------------------------------------------


def _look_up_then_create(
    collection: str,
    attribute: str,
    name: Callable[[int], str],
    body: Callable[[int], dict[str, Any]],
    indexes: range,
    ids: dict[int, str],
) -> Iterator[Task]:
    """Yield, per index, Entra's lookup by attribute, then the POST when nothing was found.

    The id found or created goes into ids.
    """
    for index in indexes:

        def task(client: Client, index: int = index) -> None:
            found = client.request(
                "GET", filter_path(collection, attribute, name(index)), kind="lookup"
            )
            if found.body and found.body.get("totalResults"):
                ids[index] = found.body["Resources"][0]["id"]
                return
            made = client.request(
                "POST", f"/{collection}", body(index), kind="create", expect=(201,)
            )
            if made.body and "id" in made.body:
                ids[index] = made.body["id"]

        yield task


def create_users(indexes: range, ids: dict[int, str]) -> Iterator[Task]:
    """Yield, per user, Entra's userName lookup then POST; the new id goes into ids."""
    return _look_up_then_create("Users", "userName", user_name, user_body, indexes, ids)


def look_up_users(indexes: list[int], kind: str = "lookup") -> Iterator[Task]:
    """Yield one userName lookup per index."""
    for index in indexes:

        def task(client: Client, index: int = index) -> None:
            client.request("GET", filter_path("Users", "userName", user_name(index)), kind=kind)

        yield task


def create_groups(indexes: range, ids: dict[int, str]) -> Iterator[Task]:
    """Yield, per group, Entra's displayName lookup then POST; the new id goes into ids."""
    return _look_up_then_create("Groups", "displayName", group_name, group_body, indexes, ids)


def patch_members(
    plan: list[tuple[str, list[str]]], kinds: list[str] | None = None
) -> Iterator[Task]:
    """Yield one member-add PATCH per (group id, user ids) of plan, timed under kinds."""
    for position, (group_id, user_ids) in enumerate(plan):
        if kinds is not None:
            kind = kinds[position]
        else:
            kind = "patch-one" if len(user_ids) == 1 else "patch-batch"

        def task(
            client: Client,
            group_id: str = group_id,
            user_ids: list[str] = user_ids,
            kind: str = kind,
        ) -> None:
            client.request(
                "PATCH", f"/Groups/{group_id}", add_members(user_ids), kind=kind, expect=(200, 204)
            )

        yield task


def update_users(renames: list[int], disables: list[int]) -> Iterator[Task]:
    """Yield Entra's incremental cycle: lookup, then PATCH replace or disable."""
    plan = [(i, False) for i in renames] + [(i, True) for i in disables]
    plan.sort()
    for index, off in plan:

        def task(client: Client, index: int = index, off: bool = off) -> None:
            found = client.request(
                "GET", filter_path("Users", "userName", user_name(index)), kind="lookup"
            )
            resources = (found.body or {}).get("Resources") or []
            if len(resources) != 1:
                return
            body = disable() if off else replace_names(index)
            client.request("PATCH", f"/Users/{resources[0]['id']}", body, kind="patch-user")

        yield task


def read_pages(
    collection: str, total: int, size: int, pages: list[list[dict]], start: int = 1
) -> Iterator[Task]:
    """Yield one GET per page of total resources from start; each page's resources go into pages."""
    for first in range(start, start + max(total, 1), size):

        def task(client: Client, first: int = first) -> None:
            got = client.request(
                "GET", f"/{collection}?startIndex={first}&count={size}", kind="read"
            )
            pages.append((got.body or {}).get("Resources") or [])

        yield task


def member_plan(
    group_ids: dict[int, str],
    user_ids: dict[int, str],
    users: int,
    memberships: int,
    single_share: float = 0.1,
    batch: int = 50,
) -> tuple[list[tuple[str, list[str]]], dict[str, set[str]]]:
    """Return the member PATCHes of the initial cycle and each group's expected members.

    Group g gets consecutive users starting at g * stride; of its members the
    first single_share arrive one per PATCH (Entra's usual shape), the rest in
    batches. The PATCHes of WINDOW groups at a time interleave, so with eight
    client threads about two to one group are in flight at once, as Entra sends them.
    """
    groups = len(group_ids)
    per_group = memberships // groups if groups else 0
    stride = max(1, users // groups) if groups else 1
    queues: list[list[tuple[str, list[str]]]] = []
    expected: dict[str, set[str]] = {}
    for g, gid in sorted(group_ids.items()):
        members = [user_ids[(g * stride + k) % users] for k in range(min(per_group, users))]
        expected[gid] = set(members)
        singles = int(len(members) * single_share)
        queue = [(gid, [uid]) for uid in members[:singles]]
        rest = members[singles:]
        queue += [(gid, rest[k : k + batch]) for k in range(0, len(rest), batch)]
        queues.append(queue)
    plan = []
    for first in range(0, len(queues), WINDOW):
        window = queues[first : first + WINDOW]
        depth = max(len(q) for q in window)
        for level in range(depth):
            plan.extend(q[level] for q in window if level < len(q))
    return plan, expected
