"""flask admin create|reset-password: recovery when locked out."""

import pytest
from apps import PASSWORD
from apps import add_local
from apps import sign_in
from auth_helpers import OTHER_PASSWORD
from auth_helpers import add_scim_user
from auth_helpers import local_users
from auth_helpers import update_user
from sqlalchemy import select

from unleash_wizard import cli
from unleash_wizard.extensions import db
from unleash_wizard.store import accounts
from unleash_wizard.store.models import AuditEvent
from unleash_wizard.store.models import User


def admin_cli(runner, *args: str, password: str | None = PASSWORD):
    stdin = None if password is None else password + "\n"
    return runner.invoke(args=["admin", *args], input=stdin)


def audit_events(app) -> list[tuple[str, str, str]]:
    with app.app_context():
        rows = db.session.scalars(select(AuditEvent).order_by(AuditEvent.id))
        return [(row.actor, row.action, row.detail) for row in rows]


def can_sign_in(app, user_name: str, password: str) -> bool:
    client = app.test_client()
    return sign_in(client, user_name, password).status_code == 302


def test_create_makes_a_local_admin_from_stdin(app, runner):
    result = admin_cli(runner, "create", "rescue", "--password-stdin")

    assert result.exit_code == 0, result.output
    assert "Created local admin 'rescue'" in result.output
    assert PASSWORD not in result.output
    assert local_users(app) == [("rescue", "admin")]
    with app.app_context():
        assert accounts.count_local_admins(db.session) == 1
    assert can_sign_in(app, "rescue", PASSWORD)
    [(actor, action, detail)] = audit_events(app)
    assert (actor, action) == ("cli", "account.create")
    assert "rescue" in detail and PASSWORD not in detail


def test_create_reads_stdin_without_the_flag_when_it_is_not_a_terminal(app, runner):
    result = admin_cli(runner, "create", "rescue")

    assert result.exit_code == 0, result.output
    assert can_sign_in(app, "rescue", PASSWORD)


def test_create_asks_twice_with_a_hidden_prompt_on_a_terminal(app, runner, monkeypatch):
    monkeypatch.setattr(cli, "stdin_is_terminal", lambda: True)

    result = runner.invoke(args=["admin", "create", "rescue"], input=f"{PASSWORD}\n{PASSWORD}\n")

    assert result.exit_code == 0, result.output
    assert "Password" in result.output and "Password again" in result.output
    assert PASSWORD not in result.output, "the prompt does not echo"
    assert can_sign_in(app, "rescue", PASSWORD)


def test_create_viewer(app, runner):
    result = admin_cli(runner, "create", "watcher", "--viewer", "--password-stdin")

    assert result.exit_code == 0, result.output
    assert local_users(app) == [("watcher", "viewer")]
    with app.app_context():
        assert accounts.count_local_admins(db.session) == 0


@pytest.mark.parametrize(
    ("user_name", "password", "message"),
    [
        ("rescue", "short1A", "at least 12 characters"),
        ("rescue", "onlylowercaseletters", "Mix at least two kinds"),
        ("Rescue-Admin-1", "rescue-admin-1", "must not be the username"),
        ("rescue", "", "at least 12 characters"),
    ],
)
def test_create_refuses_a_weak_password(app, runner, user_name, password, message):
    result = admin_cli(runner, "create", user_name, "--password-stdin", password=password)

    assert result.exit_code != 0
    assert message in result.output
    assert not password or password not in result.output
    assert local_users(app) == []
    assert audit_events(app) == []


def test_create_refuses_a_scim_managed_username(app, runner):
    add_scim_user(app, "alice@contoso.example")

    result = admin_cli(runner, "create", "ALICE@contoso.example", "--password-stdin")

    assert result.exit_code != 0
    assert "provisioned by SCIM" in result.output
    assert local_users(app) == []


def test_create_refuses_an_existing_local_username(app, runner, admin):
    result = admin_cli(runner, "create", "Admin", "--password-stdin", password=OTHER_PASSWORD)

    assert result.exit_code != 0
    assert "already exists" in result.output and "reset-password" in result.output
    assert can_sign_in(app, "admin", PASSWORD)


@pytest.mark.parametrize("user_name", ["two words", "tab\tname", " "])
def test_create_refuses_an_invalid_username(app, runner, user_name):
    result = admin_cli(runner, "create", user_name, "--password-stdin")

    assert result.exit_code != 0
    assert "Invalid username" in result.output
    assert local_users(app) == []


def test_reset_password_sets_a_new_password_from_stdin(app, runner, admin):
    result = admin_cli(
        runner, "reset-password", "admin", "--password-stdin", password=OTHER_PASSWORD
    )

    assert result.exit_code == 0, result.output
    assert OTHER_PASSWORD not in result.output
    assert can_sign_in(app, "admin", OTHER_PASSWORD)
    assert not can_sign_in(app, "admin", PASSWORD)
    [(actor, action, detail)] = audit_events(app)
    assert (actor, action) == ("cli", "account.reset-password")
    assert "admin" in detail and OTHER_PASSWORD not in detail


def test_reset_password_enables_a_disabled_local_account(app, runner, admin):
    update_user(app, admin, active=False)

    result = admin_cli(runner, "reset-password", "admin", password=OTHER_PASSWORD)

    assert result.exit_code == 0, result.output
    assert "enabled again" in result.output
    assert can_sign_in(app, "admin", OTHER_PASSWORD)


def test_reset_password_refuses_a_weak_password(app, runner, admin):
    result = admin_cli(runner, "reset-password", "admin", password="tooshort")

    assert result.exit_code != 0
    assert "too weak" in result.output
    assert can_sign_in(app, "admin", PASSWORD)
    assert audit_events(app) == []


def test_reset_password_refuses_a_scim_managed_user(app, runner):
    user_id = add_scim_user(app, "alice@contoso.example")

    result = admin_cli(runner, "reset-password", "alice@contoso.example")

    assert result.exit_code != 0
    assert "provisioned by SCIM" in result.output
    with app.app_context():
        assert db.session.get(User, user_id).password_hash is None


def test_reset_password_of_an_unknown_user_says_how_to_create_one(app, runner):
    result = admin_cli(runner, "reset-password", "ghost")

    assert result.exit_code != 0
    assert "flask admin create ghost" in result.output


def test_reset_password_tells_when_the_account_is_a_viewer(app, runner):
    add_local(app, "watcher", role="viewer")

    result = admin_cli(runner, "reset-password", "watcher", password=OTHER_PASSWORD)

    assert result.exit_code == 0, result.output
    assert "Viewer" in result.output
