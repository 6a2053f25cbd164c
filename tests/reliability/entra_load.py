"""An Entra-shaped provisioning load, a ledger of what the app acknowledged, and the checks.

A plan is a set of chains, one per user or group, each a list of steps in the
order Entra sends them: a user is looked up by userName and created, joins one
of a few shared groups, is replaced (PUT), disabled and deleted; a group is
looked up by displayName and created, renamed, deleted. Chains run side by
side from 16 threads, so creates, member-add PATCHes to the same groups,
replaces, disables and deletes interleave. Within one chain the steps are
sequential, so the state a chain leaves after k acknowledged steps is known
exactly, and the database can be compared with the ledger, also after a crash.
"""

import itertools
import os
import random
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any
from typing import NamedTuple

import httpx
from live import ROOT
from live import STARTUP_SECONDS
from live import LiveServer
from live import _wait_until_healthy
from live import drop_database
from live import gunicorn_command
from live import prepare_database
from live import server_env
from sqlalchemy import create_engine
from sqlalchemy import inspect
from sqlalchemy import select
from sqlalchemy import text

from unleash_wizard.help.screenshots import free_port
from unleash_wizard.help.screenshots import stop
from unleash_wizard.store.models import Base
from unleash_wizard.store.models import Group
from unleash_wizard.store.models import Membership
from unleash_wizard.store.models import User
from unleash_wizard.store.models import UserEmail

USER = "urn:ietf:params:scim:schemas:core:2.0:User"
GROUP = "urn:ietf:params:scim:schemas:core:2.0:Group"
PATCH_OP = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
THREADS = 16
DELETED = "deleted"
# What a server's output must never show, crash or not.
BAD_SIGNS = ("Traceback", "database is locked", "failed on the database", "WORKER TIMEOUT")


class UserState(NamedTuple):
    display_name: str
    title: str | None
    active: bool
    groups: frozenset[str]


class GroupState(NamedTuple):
    display_name: str
    members: frozenset[str]


@dataclass(frozen=True)
class UserChain:
    """One user's life as Entra provisions it; key is its externalId."""

    key: str
    user_name: str
    display_name: str
    group: str | None
    steps: tuple[str, ...]

    def state(self, done: int) -> UserState | str | None:
        """Return what the database holds for this user after done steps."""
        steps = self.steps[:done]
        if "create" not in steps:
            return None
        if "delete" in steps:
            return DELETED
        renamed = "rename" in steps
        return UserState(
            self.display_name + (" (renamed)" if renamed else ""),
            "Renamed" if renamed else None,
            "disable" not in steps,
            frozenset({self.group}) if "join" in steps else frozenset(),
        )

    def body(self, renamed: bool = False) -> dict[str, Any]:
        body = {
            "schemas": [USER],
            "userName": self.user_name,
            "externalId": self.key,
            "displayName": self.display_name,
            "active": True,
            "emails": [{"value": self.user_name, "type": "work", "primary": True}],
        }
        if renamed:
            body["displayName"] += " (renamed)"
            body["title"] = "Renamed"
        return body


@dataclass(frozen=True)
class GroupChain:
    """One group's life; members are seed users' names, never changed meanwhile."""

    key: str
    display_name: str
    members: tuple[str, ...]
    steps: tuple[str, ...]

    @property
    def new_name(self) -> str:
        return self.display_name + " (renamed)"

    def state(self, done: int) -> GroupState | str | None:
        """Return what the database holds for this group after done steps."""
        steps = self.steps[:done]
        if "create" not in steps:
            return None
        if "delete" in steps:
            return DELETED
        name = self.new_name if "rename" in steps else self.display_name
        return GroupState(name, frozenset(self.members))


@dataclass
class Plan:
    seeds: list[UserChain]
    shared: list[GroupChain]
    users: list[UserChain]
    groups: list[GroupChain]

    def chains(self) -> list[UserChain | GroupChain]:
        return [*self.seeds, *self.shared, *self.users, *self.groups]

    def final(self, chain: UserChain | GroupChain) -> Any:
        """Return the chain's expected state once every step is done."""
        if chain in self.shared:
            joined = set()
            for user in self.users:
                state = user.state(len(user.steps))
                if isinstance(state, UserState) and chain.display_name in state.groups:
                    joined.add(user.user_name)
            return GroupState(chain.display_name, frozenset(joined))
        return chain.state(len(chain.steps))

    @property
    def shared_names(self) -> set[str]:
        """Return the names of the shared groups: a user's state counts only those."""
        return {g.display_name for g in self.shared}


NAMES = ["Ada", "Zoë", "Łukasz", "Søren", "Ngozi", "Ōta", "Renée", "José", "Иван", "李雷"]


def make_plan(users: int, groups: int, shared: int = 3, seeds: int = 4) -> Plan:
    """Return a plan: users and groups with a mix of fates, a few shared groups."""
    run = uuid.uuid4().hex[:6]

    def user(i: int, kind: str, steps: tuple[str, ...], group: str | None) -> UserChain:
        name = f"{kind}{i:05d}.{run}@contoso.example"
        return UserChain(str(uuid.uuid4()), name, f"{NAMES[i % len(NAMES)]} {i}", group, steps)

    seed_users = [user(i, "seed", ("create",), None) for i in range(seeds)]
    shared_groups = [
        GroupChain(str(uuid.uuid4()), f"Shared {i} {run}", (), ("create",)) for i in range(shared)
    ]
    plan_users = []
    for i in range(users):
        steps = ["create"]
        group = None
        if i % 7 != 6:
            steps.append("join")
            group = shared_groups[i % shared].display_name
        if i % 3 == 1:
            steps.append("rename")
        if i % 4 == 2:
            steps.append("disable")
        if i % 5 == 3:
            steps.append("delete")
        plan_users.append(user(i, "user", tuple(steps), group))
    plan_groups = []
    for j in range(groups):
        steps = ["create"]
        if j % 2 == 0:
            steps.append("rename")
        if j % 3 == 1:
            steps.append("delete")
        members = (seed_users[j % seeds].user_name, seed_users[(j + 1) % seeds].user_name)
        plan_groups.append(GroupChain(str(uuid.uuid4()), f"Team {j} {run}", members, tuple(steps)))
    return Plan(seed_users, shared_groups, plan_users, plan_groups)


# ---------------------------------------------------------------------------
# Sending, with a ledger
# ---------------------------------------------------------------------------


class Interrupted(Exception):
    """The request got no answer (the server died) or an answer the chain cannot go on from."""


class Ledger:
    """Every request sent and what came back; per chain, how many steps were acknowledged."""

    def __init__(self):
        self.lock = threading.Lock()
        self.sent = 0
        self.unanswered = 0
        self.transport_errors: list[str] = []
        self.statuses: Counter[int] = Counter()
        self.acked = 0
        self.problems: list[str] = []
        self.ids: dict[str, str] = {}
        self.done: Counter[str] = Counter()
        self.in_flight: set[str] = set()
        self.dead = threading.Event()
        self.kill_at: int | None = None
        self.killer = None
        self.kills = 0
        self.retried = 0

    def arm(self, after: int, killer) -> None:
        """Call killer once after more acknowledged answers."""
        self.dead.clear()
        self.kill_at = self.acked + after
        self.killer = killer

    def disarm(self) -> None:
        self.dead.clear()
        self.kill_at = None

    def answered(self, response: httpx.Response) -> None:
        kill = False
        with self.lock:
            self.statuses[response.status_code] += 1
            if 200 <= response.status_code < 300:
                self.acked += 1
                if self.kill_at is not None and self.acked >= self.kill_at:
                    kill = not self.dead.is_set()
                    self.dead.set()
        if kill:
            self.kills += 1
            self.killer()

    def problem(self, text: str) -> None:
        with self.lock:
            self.problems.append(text)

    def advance(self, key: str) -> None:
        with self.lock:
            self.done[key] += 1
            self.in_flight.discard(key)

    @property
    def server_errors(self) -> int:
        return sum(n for status, n in self.statuses.items() if status >= 500)


class Entra:
    """Send a plan's requests as Entra does, alternating over servers, noting each answer."""

    def __init__(self, servers: list[LiveServer], ledger: Ledger):
        self.servers = servers
        self.ledger = ledger
        self.local = threading.local()
        self.turn = itertools.count()
        self.clients: list[httpx.Client] = []
        self.clients_lock = threading.Lock()
        # The externalIds of seed users and shared groups, by name.
        self.keys: dict[str, str] = {}

    def _client(self, index: int) -> httpx.Client:
        clients = getattr(self.local, "clients", None)
        if clients is None:
            # gunicorn closes a connection idle for 2 s (keepalive): reuse one for
            # 1 s at most, so no request races the server closing it.
            limits = httpx.Limits(keepalive_expiry=1.0)
            clients = self.local.clients = [
                s.client(timeout=120.0, limits=limits) for s in self.servers
            ]
            with self.clients_lock:
                self.clients.extend(clients)
        return clients[index % len(clients)]

    def close(self) -> None:
        for client in self.clients:
            client.close()

    def send(self, method: str, path: str, chain=None, **kwargs) -> httpx.Response:
        ledger = self.ledger
        if ledger.dead.is_set():
            raise Interrupted("the server is gone")
        client = self._client(next(self.turn))
        if chain is not None and method != "GET":
            with ledger.lock:
                ledger.in_flight.add(chain.key)
        with ledger.lock:
            ledger.sent += 1
        try:
            response = client.request(method, path, **kwargs)
        except httpx.TransportError as error:
            with ledger.lock:
                ledger.unanswered += 1
                ledger.transport_errors.append(f"{method} {path}: {error!r}")
            raise Interrupted(str(error)) from None
        ledger.answered(response)
        return response

    def expect(self, response: httpx.Response, *wanted: int) -> httpx.Response:
        if response.status_code not in wanted:
            request = response.request
            self.ledger.problem(
                f"{request.method} {request.url.path}: {response.status_code} {response.text[:300]}"
            )
            raise Interrupted(f"unexpected {response.status_code}")
        return response

    # -- Entra's steps -------------------------------------------------------

    def _lookup(self, kind: str, attribute: str, value: str, retry: bool) -> str | None:
        response = self.send("GET", f"/{kind}", params={"filter": f'{attribute} eq "{value}"'})
        found = self.expect(response, 200).json()["Resources"]
        if len(found) > 1:
            self.ledger.problem(f"{kind} {value!r} found {len(found)} times")
        if found and not retry:
            self.ledger.problem(f"{kind} {value!r} exists before its create")
        return found[0]["id"] if found else None

    def user_step(self, chain: UserChain, step: str, retry: bool) -> None:
        ids = self.ledger.ids
        if step == "create":
            found = self._lookup("Users", "userName", chain.user_name, retry)
            if found is None:
                response = self.send("POST", "/Users", chain=chain, json=chain.body())
                found = self.expect(response, 201).json()["id"]
            ids[chain.key] = found
        elif step == "join":
            group = ids[self.keys[chain.group]]
            add = {"op": "Add", "path": "members", "value": [{"value": ids[chain.key]}]}
            body = {"schemas": [PATCH_OP], "Operations": [add]}
            self.expect(self.send("PATCH", f"/Groups/{group}", chain=chain, json=body), 204)
        elif step == "rename":
            body = chain.body(renamed=True)
            self.expect(self.send("PUT", f"/Users/{ids[chain.key]}", chain=chain, json=body), 200)
        elif step == "disable":
            # Entra without the compliance flag: "Replace" and "False" as a string.
            op = {"op": "Replace", "path": "active", "value": "False"}
            body = {"schemas": [PATCH_OP], "Operations": [op]}
            response = self.send("PATCH", f"/Users/{ids[chain.key]}", chain=chain, json=body)
            self.expect(response, 200)
        elif step == "delete":
            response = self.send("DELETE", f"/Users/{ids[chain.key]}", chain=chain)
            self.expect(response, *((204, 404) if retry else (204,)))
        self.ledger.advance(chain.key)

    def group_step(self, chain: GroupChain, step: str, retry: bool) -> None:
        ids = self.ledger.ids
        if step == "create":
            found = self._lookup("Groups", "displayName", chain.display_name, retry)
            if found is None:
                body = {
                    "schemas": [GROUP],
                    "displayName": chain.display_name,
                    "externalId": chain.key,
                    "members": [{"value": ids[self.keys[m]]} for m in chain.members],
                }
                response = self.send("POST", "/Groups", chain=chain, json=body)
                found = self.expect(response, 201).json()["id"]
            ids[chain.key] = found
        elif step == "rename":
            op = {"op": "Replace", "path": "displayName", "value": chain.new_name}
            body = {"schemas": [PATCH_OP], "Operations": [op]}
            response = self.send("PATCH", f"/Groups/{ids[chain.key]}", chain=chain, json=body)
            self.expect(response, 204)
        elif step == "delete":
            response = self.send("DELETE", f"/Groups/{ids[chain.key]}", chain=chain)
            self.expect(response, *((204, 404) if retry else (204,)))
        self.ledger.advance(chain.key)

    def run_chain(self, chain: UserChain | GroupChain, retry: bool) -> None:
        step_of = self.user_step if isinstance(chain, UserChain) else self.group_step
        for step in chain.steps[self.ledger.done[chain.key] :]:
            step_of(chain, step, retry)
            if retry:
                with self.ledger.lock:
                    self.ledger.retried += 1
            retry = False

    def run(self, plan: Plan, rng: random.Random) -> None:
        """Run what is left of the plan: setup first, then every chain side by side.

        A chain interrupted by a crash resumes with Entra's retry of the step
        that got no answer: look up before creating again, send the PATCH or
        PUT again, accept 404 for a DELETE sent again.
        """
        self.keys = {s.user_name: s.key for s in plan.seeds}
        self.keys.update({g.display_name: g.key for g in plan.shared})
        retrying = set(self.ledger.in_flight)
        setup = [*plan.seeds, *plan.shared]
        rest = [*plan.users, *plan.groups]
        rng.shuffle(rest)
        for batch in (setup, rest):
            pending = [c for c in batch if self.ledger.done[c.key] < len(c.steps)]
            with ThreadPoolExecutor(THREADS) as pool:
                futures = [pool.submit(self.run_chain, c, c.key in retrying) for c in pending]
                for future in futures:
                    try:
                        future.result()
                    except Interrupted:
                        pass
            if self.ledger.dead.is_set():
                return


# ---------------------------------------------------------------------------
# Servers that can be killed: master and workers at once
# ---------------------------------------------------------------------------


class KillableServer:
    """gunicorn in a session of its own, so SIGKILL reaches master and workers together."""

    def __init__(self, db_url: str, token: str, workers: int = 3, threads: int = 4):
        self.db_url = db_url
        self.token = token
        self.workers = workers
        self.threads = threads
        self.killed = False

    def __enter__(self) -> "KillableServer":
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        env = server_env(self.db_url, url)
        command = gunicorn_command(port, self.workers, self.threads, timeout=120)
        self.output = tempfile.TemporaryFile(mode="a+", prefix="gunicorn-")
        self.process = subprocess.Popen(
            command,
            cwd=ROOT,
            env=env,
            stdout=self.output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            # A restart on a busy machine may take a while: allow three times the usual.
            _wait_until_healthy(url, self.process, time.monotonic() + 3 * STARTUP_SECONDS)
        except BaseException:
            self.__exit__(RuntimeError, None, None)
            raise
        self.live = LiveServer(
            url, self.token, self.db_url, self.workers, self.threads, self.output
        )
        return self

    def kill(self) -> None:
        """SIGKILL master and workers in one go, as a power cut or the OOM killer would."""
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=30)
        self.killed = True

    def __exit__(self, exc_type, *exc) -> None:
        stop(self.process)
        try:
            os.killpg(self.process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        if exc_type is not None:
            # For pytest's captured output: what gunicorn said before the failure.
            self.output.seek(0)
            print("--- gunicorn output ---", file=sys.stderr)
            print(self.output.read()[-20_000:], file=sys.stderr)
        self.output.close()

    def log(self) -> str:
        return self.live.log()


@contextmanager
def serve(db_url: str, workers: int, threads: int, token: str | None = None):
    """Yield a LiveServer as run_live_server does, with the patience of KillableServer.

    Without a token the database is set up first and dropped afterwards.
    """
    owner = token is None
    if owner:
        token = prepare_database(db_url)
    try:
        with KillableServer(db_url, token, workers, threads) as server:
            yield server.live
    finally:
        if owner:
            drop_database(db_url)


def assert_clean_log(text_: str) -> None:
    """Check a server's output: no traceback, no locked database, no worker timeout."""
    for sign in BAD_SIGNS:
        assert sign not in text_, text_[-5000:]


def assert_gone(url: str) -> None:
    """Check that nothing answers at url any more: no worker outlived the kill."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            httpx.get(url + "/healthz", timeout=1.0)
        except httpx.TransportError:
            return
        time.sleep(0.1)
    raise AssertionError(f"something still answers at {url} after SIGKILL")


# ---------------------------------------------------------------------------
# Reading back: straight from the database, and through /scim/v2
# ---------------------------------------------------------------------------


@dataclass
class Rows:
    users: list[dict[str, Any]]
    emails: list[dict[str, Any]]
    groups: list[dict[str, Any]]
    memberships: list[tuple[str, str]]


def read_rows(db_url: str) -> Rows:
    """Return every user, email, group and membership row, read with a connection of our own."""
    engine = create_engine(db_url)
    try:
        with engine.connect() as connection:
            users = [dict(r._mapping) for r in connection.execute(select(User.__table__))]
            emails = [dict(r._mapping) for r in connection.execute(select(UserEmail.__table__))]
            groups = [dict(r._mapping) for r in connection.execute(select(Group.__table__))]
            memberships = [tuple(r) for r in connection.execute(select(Membership.__table__))]
    finally:
        engine.dispose()
    return Rows(users, emails, groups, [(g, u) for g, u in memberships])


def check_schema(db_url: str) -> int:
    """Check the schema against the models and the database's own integrity; return tables seen."""
    engine = create_engine(db_url)
    try:
        found = inspect(engine)
        for table in Base.metadata.sorted_tables:
            columns = {c["name"] for c in found.get_columns(table.name)}
            assert columns == {c.name for c in table.columns}, table.name
            indexes = {i["name"] for i in found.get_indexes(table.name)}
            assert {i.name for i in table.indexes} <= indexes, (table.name, indexes)
        with engine.connect() as connection:
            if engine.dialect.name == "sqlite":
                assert connection.exec_driver_sql("PRAGMA integrity_check").all() == [("ok",)]
                assert connection.exec_driver_sql("PRAGMA foreign_key_check").all() == []
            else:
                invalid = "SELECT count(*) FROM pg_index WHERE NOT indisvalid OR NOT indisready"
                assert connection.execute(text(invalid)).scalar() == 0
            for table in Base.metadata.sorted_tables:
                connection.execute(select(table)).all()
    finally:
        engine.dispose()
    return len(Base.metadata.sorted_tables)


def observed_states(rows: Rows, shared: set[str]) -> tuple[dict[str, Any], list[str]]:
    """Return each externalId's state as the database holds it, and any inconsistency found.

    A user's state names only its shared groups (shared); a group's, all its
    members. A row whose indexed columns disagree with its JSON document, or whose
    emails or memberships do not match it, is a half-applied write.
    """
    problems = []
    live_groups = {g["id"]: g for g in rows.groups if g["deleted_at"] is None}
    users_by_id = {u["id"]: u for u in rows.users}
    emails: dict[str, list] = {}
    for email in rows.emails:
        emails.setdefault(email["user_id"], []).append(
            (email["value"], email["type"], email["primary"])
        )
    groups_of: dict[str, set[str]] = {}
    members_of: dict[str, set[str]] = {}
    for group_id, user_id in rows.memberships:
        user = users_by_id[user_id]
        group = live_groups.get(group_id)
        if group is None or user["deleted_at"] is not None:
            problems.append(f"membership {group_id}/{user_id} outlived a delete")
            continue
        groups_of.setdefault(user_id, set()).add(group["display_name"])
        members_of.setdefault(group_id, set()).add(user["user_name"])

    states: dict[str, list[Any]] = {}
    for user in rows.users:
        if not user["scim_managed"]:
            continue
        data = user["data"] or {}
        key = user["external_id"]
        if user["deleted_at"] is not None:
            states.setdefault(key, []).append(DELETED)
            if emails.get(user["id"]):
                problems.append(f"deleted user {key} kept its emails")
            continue
        wanted_emails = sorted(
            (e["value"], e.get("type"), bool(e.get("primary", False)))
            for e in data.get("emails") or []
        )
        consistent = (
            user["user_name"] == data.get("userName")
            and user["user_name_key"] == data.get("userName", "").lower()
            and user["display_name"] == data.get("displayName")
            and user["external_id"] == data.get("externalId")
            and user["active"] == data.get("active", True)
            and sorted(emails.get(user["id"], [])) == wanted_emails
            and (data.get("title") == "Renamed") == user["display_name"].endswith("(renamed)")
        )
        if not consistent:
            problems.append(f"user {key} is half-applied: {user} {emails.get(user['id'])}")
        states.setdefault(key, []).append(
            UserState(
                user["display_name"],
                data.get("title"),
                user["active"],
                frozenset(groups_of.get(user["id"], set()) & shared),
            )
        )
    for group in rows.groups:
        key = group["external_id"]
        if group["deleted_at"] is not None:
            states.setdefault(key, []).append(DELETED)
            continue
        data = group["data"] or {}
        if group["display_name"] != data.get("displayName") or key != data.get("externalId"):
            problems.append(f"group {key} is half-applied: {group}")
        states.setdefault(key, []).append(
            GroupState(group["display_name"], frozenset(members_of.get(group["id"], ())))
        )

    single = {}
    for key, found in states.items():
        if len(found) > 1:
            problems.append(f"{key} is stored {len(found)} times: {found}")
        single[key] = found[0]
    live_names = Counter(u["user_name_key"] for u in rows.users if u["deleted_at"] is None)
    problems += [f"userName {n!r} is live {c} times" for n, c in live_names.items() if c > 1]
    return single, problems


def check_after_crash(plan: Plan, ledger: Ledger, db_url: str) -> int:
    """Check the database against the ledger while no server runs; return objects checked.

    A chain with k acknowledged steps must be in its state after k steps; if
    a request of it got no answer, the state after k + 1 steps is allowed too
    (the request may have committed just before the kill). Nothing else is:
    not an acknowledged write missing, not a request half-applied.
    """
    rows = read_rows(db_url)
    states, problems = observed_states(rows, plan.shared_names)
    setup_done = all(ledger.done[c.key] for c in [*plan.seeds, *plan.shared])
    for chain in plan.chains():
        done = ledger.done[chain.key]
        if chain in plan.shared:
            if setup_done:
                assert isinstance(states.get(chain.key), GroupState), chain
            continue
        allowed = {chain.state(done)}
        if chain.key in ledger.in_flight:
            allowed.add(chain.state(done + 1))
        observed = states.get(chain.key)
        if observed not in allowed:
            problems.append(f"{chain.key}: {observed} after {done} acked steps, not {allowed}")
    assert not problems, "\n".join(problems[:20])
    return len(plan.chains()) + len(rows.memberships)


def check_final(plan: Plan, ledger: Ledger, db_url: str, servers: list[LiveServer]) -> int:
    """Check that every chain ended in its planned state, in the database and through
    /scim/v2 on every server; return the objects checked."""
    rows = read_rows(db_url)
    states, problems = observed_states(rows, plan.shared_names)
    expected = {c.key: plan.final(c) for c in plan.chains()}
    for key, state in expected.items():
        if states.get(key) != state:
            problems.append(f"{key}: database holds {states.get(key)}, expected {state}")
    extra = set(states) - set(expected)
    problems += [f"{key} was never planned" for key in extra]
    assert not problems, "\n".join(problems[:20])

    checked = len(expected) + len(rows.memberships)
    for server in servers:
        with server.client(timeout=120.0) as client:
            checked += _check_through_api(plan, expected, ledger, client)
    return checked


def _list_all(client: httpx.Client, kind: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    while True:
        response = client.get(f"/{kind}", params={"startIndex": len(found) + 1, "count": 200})
        assert response.status_code == 200, response.text
        page = response.json()
        found += page["Resources"]
        if not page["Resources"] or len(found) >= page["totalResults"]:
            assert len(found) == page["totalResults"]
            return found


def _check_through_api(plan: Plan, expected: dict, ledger: Ledger, client: httpx.Client) -> int:
    users = _list_all(client, "Users")
    names = Counter(u["userName"].lower() for u in users)
    assert all(c == 1 for c in names.values()), [n for n, c in names.items() if c > 1]
    seen: dict[str, Any] = {}
    for user in users:
        seen[user["externalId"]] = UserState(
            user.get("displayName"),
            user.get("title"),
            user.get("active", True),
            frozenset(g["display"] for g in user.get("groups", [])) & plan.shared_names,
        )
    for group in _list_all(client, "Groups"):
        by_id = {u["id"]: u["userName"] for u in users}
        members = frozenset(by_id[m["value"]] for m in group.get("members", []))
        seen[group["externalId"]] = GroupState(group["displayName"], members)
    live = {k: v for k, v in expected.items() if v != DELETED}
    assert seen == live
    checked = len(seen)
    for chain in plan.chains():
        if expected[chain.key] == DELETED:
            kind = "Users" if isinstance(chain, UserChain) else "Groups"
            gone = client.get(f"/{kind}/{ledger.ids[chain.key]}")
            assert gone.status_code == 404, gone.text
            checked += 1
    return checked


def figures(ledger: Ledger, checked: int, **more: Any) -> str:
    """Return the one-line summary a load test prints and records."""
    parts = [
        f"sent={ledger.sent}",
        f"acknowledged={ledger.acked}",
        f"unanswered={ledger.unanswered}",
        f"5xx={ledger.server_errors}",
        f"statuses={dict(sorted(ledger.statuses.items()))}",
        f"objects_checked={checked}",
        *(f"{k}={v}" for k, v in more.items()),
        "lost=0",
    ]
    return " ".join(parts)
