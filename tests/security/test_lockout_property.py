"""Lockout cannot happen: random SCIM traffic, admin-UI actions and CLI commands, in any order.

A Hypothesis state machine plays Entra (users created, renamed, disabled and
deleted; groups, including the admin group of step 0, gaining and losing
members), an Admin in the directory and the wizard (disabling, demoting and
removing users, changing the admin group, deleting every SCIM user, pausing
SCIM) and the command line (new local accounts, password resets). After every
step at least one active local admin with a password must remain, counted by
store.accounts and by a plain SQL query of our own; every refusal must be a
clear answer (a 409 naming the local account, the page saying why), never a 5xx.
At the end of each run that admin signs in with its password.

CI runs a small sample; the long run is
``pytest tests/security/test_lockout_property.py --long`` (or set
LOCKOUT_EXAMPLES and LOCKOUT_STEPS).
"""

import os

import pytest
from apps import ScimClient
from hypothesis import HealthCheck
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine
from hypothesis.stateful import invariant
from hypothesis.stateful import rule
from hypothesis.stateful import run_state_machine_as_test
from sqlalchemy import text
from werkzeug.security import generate_password_hash

from unleash_wizard.admin.sso import confirmation_phrase
from unleash_wizard.extensions import db
from unleash_wizard.store import accounts
from unleash_wizard.store import settings as app_settings
from unleash_wizard.store import tokens

PATCH_OP = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
ADMIN_GROUP = "Unleash Admins"
GROUPS = (ADMIN_GROUP, "Staff")
# Local accounts: the first exists from the start, the others the CLI may add.
LOCAL_NAMES = ("breakglass", "second", "third")
# What Entra sends: its own users, and userNames that belong to local accounts.
SCIM_NAMES = ("alice@contoso.example", "bob@contoso.example", "carol@contoso.example")
ALL_NAMES = SCIM_NAMES + LOCAL_NAMES + ("BreakGlass",)
PASSWORDS = {name: f"Never locked out {number} {name}!" for number, name in enumerate(LOCAL_NAMES)}
LAST_ADMIN_WORDS = "This is the last local admin who can sign in with a password"
INDEPENDENT_COUNT = text(
    "SELECT count(*) FROM users WHERE role = 'admin' AND scim_managed = :false "
    "AND active = :true AND password_hash IS NOT NULL AND password_hash <> '' "
    "AND deleted_at IS NULL"
)
CI_EXAMPLES, CI_STEPS = 20, 25
LONG_EXAMPLES, LONG_STEPS = 150, 40


def fast_hash(password: str) -> str:
    """Hash as the app does, with a cheap work factor: hashing is not what this test is about."""
    return generate_password_hash(password, method="pbkdf2:sha256:1000")


def break_glass_admins(session) -> list[str]:
    """Return the userNames of the break-glass admins, as store.accounts sees them."""
    return sorted(user.user_name for user in session.scalars(accounts.local_admins()))


def independent_count(session) -> int:
    return session.execute(INDEPENDENT_COUNT, {"false": False, "true": True}).scalar_one()


class Lockout(RuleBasedStateMachine):
    """Entra, an Admin and the command line acting at random on one instance."""

    app = None  # set by the test before the machine runs

    def __init__(self):
        super().__init__()
        self.app = type(self).app
        self.steps = 0
        with self.app.app_context():
            session = db.session
            for table in reversed(db.metadata.sorted_tables):
                session.execute(table.delete())
            accounts.create_local_user(session, LOCAL_NAMES[0], PASSWORDS[LOCAL_NAMES[0]])
            app_settings.put(session, app_settings.SCIM_ENABLED, True)
            app_settings.put(session, "setup_completed_at", "2026-01-01T00:00:00+00:00")
            secret = tokens.issue(session, "entra").secret
            session.commit()
        self.scim = ScimClient(self.app.test_client(), secret)
        self.ui = self.app.test_client()
        self.actor: str | None = None
        self.scim_on = True
        self.runner = self.app.test_cli_runner()

    # -- helpers ----------------------------------------------------------------

    def query(self, sql: str, **values):
        with self.app.app_context():
            return db.session.execute(text(sql), values).all()

    def scim_user_id(self, name: str) -> str | None:
        rows = self.query(
            "SELECT id FROM users WHERE user_name_key = :key AND scim_managed = :true "
            "AND deleted_at IS NULL",
            key=name.lower(),
            true=True,
        )
        return rows[0][0] if rows else None

    def live_user(self, name: str):
        rows = self.query(
            "SELECT id, scim_managed FROM users WHERE user_name_key = :key AND deleted_at IS NULL",
            key=name.lower(),
        )
        return rows[0] if rows else None

    def user_name(self, user_id: str) -> str:
        return self.query("SELECT user_name FROM users WHERE id = :i", i=user_id)[0][0]

    def group_id(self, name: str) -> str | None:
        rows = self.query(
            "SELECT id FROM groups WHERE display_name_key = :key AND deleted_at IS NULL",
            key=name.lower(),
        )
        return rows[0][0] if rows else None

    def admins(self) -> list[str]:
        with self.app.app_context():
            return break_glass_admins(db.session)

    def sign_in_as_admin(self) -> None:
        """Keep the UI client signed in as a break-glass admin, switching when needed."""
        admins = self.admins()
        if self.actor in admins and self.ui.get("/sso/scim").status_code == 200:
            return
        self.actor = admins[0]
        self.ui = self.app.test_client()
        response = self.ui.post(
            "/login", data={"username": self.actor, "password": PASSWORDS[self.actor]}
        )
        assert response.status_code == 302, response.get_data(as_text=True)

    def check(self, response, allowed: tuple[int, ...]):
        assert response.status_code < 500, response.get_data(as_text=True)
        assert response.status_code in allowed, (response.status_code, response.get_data())
        return response

    def check_scim(self, response, allowed: tuple[int, ...]):
        """Check a SCIM answer; while provisioning is paused every request gets a 403."""
        return self.check(response, allowed if self.scim_on else (403,))

    def patch_body(self, *operations: dict) -> dict:
        return {"schemas": [PATCH_OP], "Operations": list(operations)}

    # -- Entra --------------------------------------------------------------------

    @rule(name=st.sampled_from(ALL_NAMES))
    def scim_create_user(self, name):
        existing = self.live_user(name)
        response = self.scim.post(
            "/scim/v2/Users",
            json={"userName": name, "active": True, "externalId": name.split("@")[0]},
        )
        if existing is not None:
            self.check_scim(response, (409,))
            if not existing[1] and self.scim_on:
                assert "local account" in response.get_json()["detail"]
        else:
            self.check_scim(response, (201,))

    @rule(name=st.sampled_from(SCIM_NAMES), active=st.booleans(), legacy=st.booleans())
    def scim_set_active(self, name, active, legacy):
        user_id = self.scim_user_id(name) or "no-such-user"
        if legacy:
            operation = {"op": "Replace", "path": "active", "value": str(active)}
        else:
            operation = {"op": "replace", "path": "active", "value": active}
        response = self.scim.patch(f"/scim/v2/Users/{user_id}", json=self.patch_body(operation))
        self.check_scim(response, (200,) if user_id != "no-such-user" else (404,))

    @rule(name=st.sampled_from(SCIM_NAMES), new=st.sampled_from(ALL_NAMES))
    def scim_rename(self, name, new):
        user_id = self.scim_user_id(name)
        if user_id is None:
            return
        taken = self.live_user(new)
        response = self.scim.patch(
            f"/scim/v2/Users/{user_id}",
            json=self.patch_body({"op": "replace", "path": "userName", "value": new}),
        )
        if taken is not None and taken[0] != user_id:
            self.check_scim(response, (409,))
        else:
            self.check_scim(response, (200,))

    @rule(name=st.sampled_from(ALL_NAMES))
    def scim_delete_user(self, name):
        # SCIM sees only its own users: a local account's id is "not found" to it.
        existing = self.live_user(name)
        user_id = existing[0] if existing else "no-such-user"
        response = self.scim.delete(f"/scim/v2/Users/{user_id}")
        self.check_scim(response, (204,) if existing and existing[1] else (404,))

    @rule(
        group=st.sampled_from(GROUPS),
        names=st.lists(st.sampled_from(ALL_NAMES), max_size=3),
        op=st.sampled_from(["add", "remove", "replace", "Add", "Remove"]),
    )
    def scim_group_members(self, group, names, op):
        group_id = self.group_id(group)
        if group_id is None:
            created = self.scim.post("/scim/v2/Groups", json={"displayName": group})
            self.check_scim(created, (201,))
            if not self.scim_on:
                return
            group_id = created.get_json()["id"]
        ids = [row[0] for name in names if (row := self.live_user(name)) is not None]
        operation = {"op": op, "path": "members", "value": [{"value": i} for i in ids]}
        response = self.scim.patch(f"/scim/v2/Groups/{group_id}", json=self.patch_body(operation))
        # Local accounts are not SCIM's to put in groups: a 400 says which.
        self.check_scim(response, (200, 204, 400))

    @rule(group=st.sampled_from(GROUPS))
    def scim_delete_group(self, group):
        group_id = self.group_id(group)
        if group_id is not None:
            self.check_scim(self.scim.delete(f"/scim/v2/Groups/{group_id}"), (204,))

    # -- an Admin in the app ----------------------------------------------------------

    @rule(group=st.sampled_from(GROUPS + ("",)))
    def ui_set_admin_group(self, group):
        self.sign_in_as_admin()
        response = self.ui.post("/setup/lockout/admin-group", data={"group": group})
        self.check(response, (302,))

    @rule(
        name=st.sampled_from(ALL_NAMES),
        role=st.sampled_from([accounts.ADMIN, accounts.VIEWER]),
        status=st.sampled_from(["active", "disabled"]),
    )
    def ui_edit_user(self, name, role, status):
        self.sign_in_as_admin()
        target = self.live_user(name)
        if target is None:
            return
        user_id, scim_managed = target
        admins = self.admins()
        losing = role != accounts.ADMIN or status != "active"
        last = admins == [self.user_name(user_id)]
        response = self.ui.post(
            f"/directory/users/{user_id}/edit",
            data={"display_name": "Edited", "role": role, "status": status},
        )
        if scim_managed:
            self.check(response, (403,))
        elif last and losing:
            self.check(response, (200,))
            assert LAST_ADMIN_WORDS in response.get_data(as_text=True)
            assert self.admins() == admins, "a refused edit changed nothing"
        else:
            self.check(response, (302,))

    @rule(name=st.sampled_from(ALL_NAMES))
    def ui_remove_user(self, name):
        self.sign_in_as_admin()
        target = self.live_user(name)
        if target is None:
            return
        admins = self.admins()
        last = admins == [self.user_name(target[0])]
        response = self.ui.post(f"/directory/users/{target[0]}/remove", data={"confirm": "y"})
        if last:
            self.check(response, (200,))
            assert LAST_ADMIN_WORDS in response.get_data(as_text=True)
            assert self.live_user(name) is not None
        else:
            self.check(response, (302,))

    @rule(group=st.sampled_from(GROUPS))
    def ui_remove_group(self, group):
        self.sign_in_as_admin()
        group_id = self.group_id(group)
        if group_id is not None:
            response = self.ui.post(f"/directory/groups/{group_id}/remove", data={"confirm": "y"})
            self.check(response, (302,))

    @rule(kind=st.sampled_from(["users", "groups"]))
    def ui_delete_all_scim(self, kind):
        self.sign_in_as_admin()
        table = "users" if kind == "users" else "groups"
        count = self.query(
            f"SELECT count(*) FROM {table} WHERE scim_managed = :true AND deleted_at IS NULL",
            true=True,
        )[0][0]
        response = self.ui.post(
            f"/sso/scim/delete-{kind}", data={"confirmation": confirmation_phrase(kind, count)}
        )
        self.check(response, (302,))

    @rule(state=st.sampled_from(["on", "off"]))
    def ui_switch_scim(self, state):
        self.sign_in_as_admin()
        self.check(self.ui.post("/sso/scim/toggle", data={"state": state}), (200, 302))
        self.scim_on = state == "on"

    # -- the command line -------------------------------------------------------------

    @rule(name=st.sampled_from(LOCAL_NAMES[1:]), viewer=st.booleans())
    def cli_create(self, name, viewer):
        taken = self.live_user(name) is not None
        args = ["admin", "create", name, "--password-stdin", *(["--viewer"] if viewer else [])]
        result = self.runner.invoke(args=args, input=PASSWORDS[name] + "\n")
        assert "Traceback" not in result.output
        assert result.exit_code == (1 if taken else 0), result.output

    @rule(name=st.sampled_from(LOCAL_NAMES))
    def cli_reset_password(self, name):
        target = self.live_user(name)
        args = ["admin", "reset-password", name, "--password-stdin"]
        result = self.runner.invoke(args=args, input=PASSWORDS[name] + "\n")
        assert "Traceback" not in result.output
        assert result.exit_code == (0 if target is not None and not target[1] else 1)

    # -- what must always hold --------------------------------------------------------

    @invariant()
    def a_local_admin_with_a_password_remains(self):
        with self.app.app_context():
            session = db.session
            counted = accounts.count_local_admins(session)
            assert counted >= 1, "locked out: no active local admin with a password"
            assert accounts.has_local_admin(session)
            assert independent_count(session) == counted
            for name in break_glass_admins(session):
                user = accounts.find_by_name(session, name)
                assert accounts.is_admin(session, user)
                assert not accounts.can_lose_admin(session, user) or counted > 1
        self.steps += 1

    def teardown(self):
        # The break-glass admin really signs in with its password.
        name = self.admins()[0]
        response = self.app.test_client().post(
            "/login", data={"username": name, "password": PASSWORDS[name]}
        )
        assert response.status_code == 302
        Lockout.total_steps = getattr(Lockout, "total_steps", 0) + self.steps


def sizes(request) -> tuple[int, int]:
    """Return (examples, steps): small in CI, large with --long or the environment."""
    long = request.config.getoption("--long", default=False)
    examples, steps = (LONG_EXAMPLES, LONG_STEPS) if long else (CI_EXAMPLES, CI_STEPS)
    examples = int(os.environ.get("LOCKOUT_EXAMPLES") or examples)
    steps = int(os.environ.get("LOCKOUT_STEPS") or steps)
    return examples, steps


def test_no_sequence_of_scim_ui_and_cli_actions_locks_the_admins_out(app, request, monkeypatch):
    monkeypatch.setattr(accounts, "generate_password_hash", fast_hash)
    examples, steps = sizes(request)
    Lockout.app = app
    Lockout.total_steps = 0

    run_state_machine_as_test(
        Lockout,
        settings=settings(
            max_examples=examples,
            stateful_step_count=steps,
            # The same sequences in every CI run; --long explores new ones.
            derandomize=not request.config.getoption("--long"),
            deadline=None,
            database=None,
            print_blob=True,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
        ),
    )

    print(f"lockout: {examples} runs, {Lockout.total_steps} steps checked")
    assert Lockout.total_steps >= examples


@pytest.mark.parametrize("action", ["disable", "demote", "remove"])
def test_the_last_admin_is_refused_in_the_directory_with_the_reason(app, monkeypatch, action):
    # The property above relies on this refusal; here it is once, plainly.
    monkeypatch.setattr(accounts, "generate_password_hash", fast_hash)
    Lockout.app = app
    machine = Lockout()
    machine.sign_in_as_admin()
    [(user_id, _)] = [machine.live_user(LOCAL_NAMES[0])]
    if action == "remove":
        response = machine.ui.post(f"/directory/users/{user_id}/remove", data={"confirm": "y"})
    else:
        role, status = ("admin", "disabled") if action == "disable" else ("viewer", "active")
        response = machine.ui.post(
            f"/directory/users/{user_id}/edit",
            data={"display_name": "", "role": role, "status": status},
        )

    assert response.status_code == 200
    assert LAST_ADMIN_WORDS in response.get_data(as_text=True)
    machine.a_local_admin_with_a_password_remains()
