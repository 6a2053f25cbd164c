"""flask scim enable|disable and flask scim token create|list|revoke."""

from datetime import datetime
from datetime import timedelta

from sqlalchemy import select

from unleash_wizard.extensions import db
from unleash_wizard.store import settings
from unleash_wizard.store import tokens
from unleash_wizard.store.models import AuditEvent
from unleash_wizard.store.models import ScimToken
from unleash_wizard.store.models import utcnow


def audit_events(app) -> list[tuple[str, str, str | None]]:
    with app.app_context():
        rows = db.session.scalars(select(AuditEvent).order_by(AuditEvent.id))
        return [(row.actor, row.action, row.detail) for row in rows]


def create_token(runner, *args: str):
    return runner.invoke(args=["scim", "token", "create", *args])


def test_token_create_prints_secret_alone_on_last_line_and_stores_only_its_hash(app, runner):
    result = create_token(runner, "--name", "entra")

    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    secret = lines[-1]
    assert secret.startswith(tokens.TOKEN_PREFIX)
    assert secret == secret.strip() and " " not in secret
    assert len(lines) > 1, "the secret comes after an explanation"
    assert all(secret not in line for line in lines[:-1])
    with app.app_context():
        token = db.session.scalar(select(ScimToken))
        assert token.name == "entra"
        assert token.token_hash == tokens.hash_token(secret)
        assert secret.startswith(token.prefix)
        assert token.prefix != secret
        assert token.expires_at is None
        assert tokens.find(db.session, secret).id == token.id


def test_token_create_writes_an_audit_event_without_the_secret(app, runner):
    secret = create_token(runner, "--name", "entra").stdout.splitlines()[-1]

    [(actor, action, detail)] = audit_events(app)
    assert (actor, action) == ("cli", "token.create")
    assert "entra" in detail
    assert secret not in detail


def test_token_create_with_expiry_sets_expires_at(app, runner):
    result = create_token(runner, "--name", "rotating", "--expires-days", "30")

    assert result.exit_code == 0, result.output
    with app.app_context():
        token = db.session.scalar(select(ScimToken))
        expires = tokens.aware(token.expires_at)
        assert timedelta(days=29) < expires - utcnow() <= timedelta(days=30)


def test_token_create_duplicate_name_fails_without_traceback(app, runner):
    create_token(runner, "--name", "entra")

    result = create_token(runner, "--name", "entra")

    assert result.exit_code == 1
    assert "already exists" in result.output
    assert "Traceback" not in result.output
    with app.app_context():
        assert len(tokens.listing(db.session)) == 1
    assert [action for _, action, _ in audit_events(app)] == ["token.create"]


def test_token_create_rejects_bad_expiry_days(app, runner):
    for days in ("0", "-3", "soon", "99999999"):
        result = create_token(runner, "--name", "entra", "--expires-days", days)

        assert result.exit_code == 2, (days, result.output)
        assert "--expires-days" in result.output
        assert "Traceback" not in result.output
    with app.app_context():
        assert tokens.listing(db.session) == []


def test_token_create_needs_a_name(app, runner):
    result = create_token(runner, "--name", "   ")

    assert result.exit_code == 1
    assert "needs a name" in result.output


def test_token_list_shows_metadata_but_never_the_secret(app, runner):
    secret = create_token(runner, "--name", "entra").stdout.splitlines()[-1]
    create_token(runner, "--name", "spare", "--expires-days", "7")

    result = runner.invoke(args=["scim", "token", "list"])

    assert result.exit_code == 0, result.output
    assert secret not in result.output
    header, *rows = result.output.splitlines()
    for column in ("NAME", "PREFIX", "CREATED", "LAST USED", "EXPIRES", "STATUS"):
        assert column in header
    assert len(rows) == 2
    entra = next(row for row in rows if row.startswith("entra"))
    assert secret[: len(tokens.TOKEN_PREFIX) + 4] in entra
    assert entra.split()[-1] == "live"
    assert "never" in entra


def test_token_list_marks_expired_and_revoked_tokens(app, runner):
    create_token(runner, "--name", "old", "--expires-days", "1")
    create_token(runner, "--name", "gone")
    with app.app_context():
        token = db.session.scalar(select(ScimToken).where(ScimToken.name == "old"))
        token.expires_at = utcnow() - timedelta(hours=1)
        db.session.commit()
    runner.invoke(args=["scim", "token", "revoke", "gone"])

    result = runner.invoke(args=["scim", "token", "list"])

    rows = {line.split()[0]: line.split()[-1] for line in result.output.splitlines()[1:]}
    assert rows == {"old": "expired", "gone": "revoked"}


def test_token_list_without_tokens_says_how_to_create_one(app, runner):
    result = runner.invoke(args=["scim", "token", "list"])

    assert result.exit_code == 0
    assert "flask scim token create" in result.output


def test_token_revoke_makes_token_unusable_and_is_audited(app, runner):
    secret = create_token(runner, "--name", "entra").stdout.splitlines()[-1]

    result = runner.invoke(args=["scim", "token", "revoke", "entra"])

    assert result.exit_code == 0, result.output
    assert "Revoked" in result.output
    with app.app_context():
        token = tokens.find(db.session, secret)
        assert token.revoked_at is not None
        assert not tokens.is_live(token)
    actor, action, detail = audit_events(app)[-1]
    assert (actor, action) == ("cli", "token.revoke")
    assert "entra" in detail and secret not in detail


def test_token_revoke_twice_keeps_first_revocation_time(app, runner):
    create_token(runner, "--name", "entra")
    runner.invoke(args=["scim", "token", "revoke", "entra"])
    with app.app_context():
        first = db.session.scalar(select(ScimToken.revoked_at))

    result = runner.invoke(args=["scim", "token", "revoke", "entra"])

    assert result.exit_code == 0
    assert "already revoked" in result.output
    with app.app_context():
        assert db.session.scalar(select(ScimToken.revoked_at)) == first


def test_token_revoke_unknown_name_fails_without_traceback(app, runner):
    result = runner.invoke(args=["scim", "token", "revoke", "nope"])

    assert result.exit_code == 1
    assert "No token called 'nope'" in result.output
    assert "Traceback" not in result.output
    assert audit_events(app) == []


def test_enable_and_disable_flip_the_setting_and_are_audited(app, runner):
    with app.app_context():
        assert settings.scim_enabled(db.session) is False

    enabled = runner.invoke(args=["scim", "enable"])
    with app.app_context():
        assert settings.scim_enabled(db.session) is True
    disabled = runner.invoke(args=["scim", "disable"])
    with app.app_context():
        assert settings.scim_enabled(db.session) is False

    assert enabled.exit_code == 0, enabled.output
    assert disabled.exit_code == 0, disabled.output
    assert [(actor, action) for actor, action, _ in audit_events(app)] == [
        ("cli", "scim.enable"),
        ("cli", "scim.disable"),
    ]


def test_enable_records_when_it_was_switched_on_after_being_off(app, runner):
    runner.invoke(args=["scim", "enable"])
    with app.app_context():
        first = settings.get(db.session, settings.SCIM_ENABLED_AT)
    assert datetime.fromisoformat(first).tzinfo is not None

    runner.invoke(args=["scim", "enable"])
    with app.app_context():
        assert settings.get(db.session, settings.SCIM_ENABLED_AT) == first

    runner.invoke(args=["scim", "disable"])
    runner.invoke(args=["scim", "enable"])
    with app.app_context():
        again = settings.get(db.session, settings.SCIM_ENABLED_AT)
    assert datetime.fromisoformat(again) >= datetime.fromisoformat(first)
    assert again != first


def test_disable_keeps_tokens(app, runner):
    runner.invoke(args=["scim", "enable"])
    secret = create_token(runner, "--name", "entra").stdout.splitlines()[-1]

    result = runner.invoke(args=["scim", "disable"])

    assert "paused" in result.output
    with app.app_context():
        assert tokens.is_live(tokens.find(db.session, secret))


def test_token_create_while_scim_is_off_says_how_to_switch_it_on(app, runner):
    result = create_token(runner, "--name", "entra")

    assert "flask scim enable" in result.output
