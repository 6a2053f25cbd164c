"""Command-line tools.

``flask scim enable|disable``, ``flask scim token create|list|revoke``, for
recovery when locked out, ``flask admin create|reset-password``,
``flask log prune`` for the provisioning log and the audit trail,
``flask help screenshots`` for the wizard's pictures, and ``flask backup PATH``
for an online copy of the SQLite database.
"""

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import datetime
from pathlib import Path

import click
from flask import Flask
from flask import current_app
from flask.cli import AppGroup
from flask.cli import with_appcontext
from sqlalchemy.exc import IntegrityError
from sqlalchemy.exc import SQLAlchemyError

from .auth.passwords import password_problems
from .auth.passwords import username_problem
from .extensions import db
from .help import screenshots
from .store import accounts
from .store import audit
from .store import backup
from .store import log
from .store import settings
from .store import tokens
from .store.models import ScimToken
from .store.models import User
from .store.models import utcnow
from .store.transactions import begin_write

ACTOR = "cli"
# Long enough for any real rotation policy, short enough that the date stays valid.
MAX_EXPIRES_DAYS = 36500

scim_cli = AppGroup("scim", help="Switch SCIM provisioning on or off and manage its tokens.")
token_cli = AppGroup("token", help="Create, list and revoke SCIM bearer tokens.")
scim_cli.add_command(token_cli)
admin_cli = AppGroup("admin", help="Create local accounts and reset their passwords.")
log_cli = AppGroup("log", help="Prune the provisioning log and the audit trail.")
help_cli = AppGroup("help", help="Make the help pictures the wizard shows.")


def init_app(app: Flask) -> None:
    """Register the command groups on app."""
    app.cli.add_command(scim_cli)
    app.cli.add_command(admin_cli)
    app.cli.add_command(log_cli)
    app.cli.add_command(help_cli)
    app.cli.add_command(backup_database)


@contextmanager
def database_errors() -> Iterator[None]:
    """Turn a database failure into a one-line error instead of a traceback."""
    try:
        yield
    except SQLAlchemyError as error:
        db.session.rollback()
        reason = str(error.orig if getattr(error, "orig", None) else error).splitlines()[0]
        raise click.ClickException(
            f"The database could not be used: {reason}\n"
            "Check DATABASE_URL and run `flask --app app db upgrade`."
        ) from None


def format_time(moment: datetime | None, empty: str = "-") -> str:
    """Return moment as 'YYYY-MM-DD HH:MM UTC', or empty when there is none."""
    moment = tokens.aware(moment)
    return moment.strftime("%Y-%m-%d %H:%M UTC") if moment else empty


def token_status(token: ScimToken) -> str:
    """Return 'live', 'revoked' or 'expired'."""
    return tokens.status(token)


@scim_cli.command("enable")
def enable():
    """Switch SCIM provisioning on."""
    session = db.session
    with database_errors():
        if not settings.enable_scim(session):
            audit.record(session, ACTOR, "scim.enable", "already on")
            session.commit()
            click.echo("SCIM provisioning was already on.")
        else:
            audit.record(session, ACTOR, "scim.enable", "SCIM provisioning switched on")
            session.commit()
            click.echo("SCIM provisioning is on: /scim/v2 accepts requests with a live token.")
        if not tokens.has_live(session):
            click.echo("There is no live token yet: flask scim token create --name NAME")


@scim_cli.command("disable")
def disable():
    """Pause SCIM provisioning; tokens and provisioned data are kept."""
    session = db.session
    with database_errors():
        if not settings.pause_scim(session):
            audit.record(session, ACTOR, "scim.disable", "already off")
            session.commit()
            click.echo("SCIM provisioning was already off.")
            return
        audit.record(session, ACTOR, "scim.disable", "SCIM provisioning paused")
        session.commit()
    click.echo(
        "SCIM provisioning is paused: /scim/v2 answers 403. "
        "Tokens, users and groups are kept; `flask scim enable` resumes."
    )


def check_expires_days(days: int | None) -> int | None:
    """Return days when it is a sensible lifetime for a token."""
    if days is not None and not 1 <= days <= MAX_EXPIRES_DAYS:
        raise click.BadParameter(f"must be a number of days from 1 to {MAX_EXPIRES_DAYS}")
    return days


@token_cli.command("create")
@click.option("--name", required=True, help="A label for the token, such as 'entra'.")
@click.option(
    "--expires-days",
    type=int,
    default=None,
    callback=lambda _ctx, _param, days: check_expires_days(days),
    help="Days until the token expires (default: never).",
)
def create_token(name: str, expires_days: int | None):
    """Create a token and print its secret, once, on the last line."""
    session = db.session
    with database_errors():
        try:
            issued = tokens.issue(session, name, expires_days)
        except tokens.TokenError as error:
            session.rollback()
            raise click.ClickException(str(error)) from None
        except IntegrityError:
            # Another process took the name between the check and the insert.
            session.rollback()
            raise click.ClickException(f"A token called '{name.strip()}' already exists") from None
        token = issued.token
        expires = format_time(token.expires_at, "never")
        audit.record(
            session,
            ACTOR,
            "token.create",
            f"token '{token.name}' (prefix {token.prefix}), expires {expires}",
        )
        session.commit()
        enabled = settings.scim_enabled(session)
    click.echo(f"Created SCIM token '{token.name}' (expires {expires}).")
    if not enabled:
        click.echo("SCIM provisioning is off; switch it on with `flask scim enable`.")
    click.echo(
        "Paste it into Entra as the Secret Token. It is shown only now; only its hash is kept."
    )
    click.echo(issued.secret)


@token_cli.command("list")
def list_tokens():
    """List tokens (name, prefix, dates, status), never their secrets."""
    with database_errors():
        rows = tokens.listing(db.session)
    if not rows:
        click.echo("No SCIM tokens. Create one with: flask scim token create --name NAME")
        return
    header = ("NAME", "PREFIX", "CREATED", "LAST USED", "EXPIRES", "STATUS")
    table = [header] + [
        (
            token.name,
            token.prefix + "...",
            format_time(token.created_at),
            format_time(token.last_used_at, "never"),
            format_time(token.expires_at, "never"),
            token_status(token),
        )
        for token in rows
    ]
    widths = [max(len(row[column]) for row in table) for column in range(len(header))]
    for row in table:
        click.echo(
            "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        )


@token_cli.command("revoke")
@click.argument("name")
def revoke_token(name: str):
    """Revoke the token called NAME; the next request with it is refused."""
    session = db.session
    with database_errors():
        before = utcnow()
        try:
            token = tokens.revoke(session, name)
        except tokens.TokenError as error:
            session.rollback()
            raise click.ClickException(str(error)) from None
        already = tokens.aware(token.revoked_at) < before
        detail = f"token '{token.name}' (prefix {token.prefix})"
        if already:
            detail += ", already revoked"
        audit.record(session, ACTOR, "token.revoke", detail)
        session.commit()
    if already:
        click.echo(f"Token '{name}' was already revoked.")
    else:
        click.echo(f"Revoked token '{name}'; requests with it are refused from now on.")


def stdin_is_terminal() -> bool:
    """Return whether a person can answer a prompt on stdin."""
    return sys.stdin.isatty()


def read_password(user_name: str, from_stdin: bool) -> str:
    """Return a new password from a hidden, confirmed prompt, or from stdin's first line."""
    if from_stdin or not stdin_is_terminal():
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = click.prompt("Password", hide_input=True, confirmation_prompt="Password again")
    problems = password_problems(password, user_name)
    if problems:
        raise click.ClickException("The password is too weak: " + " ".join(problems))
    return password


password_stdin_option = click.option(
    "--password-stdin",
    is_flag=True,
    help="Read the password from the first line of stdin (also when stdin is not a terminal).",
)


@admin_cli.command("create")
@click.argument("username")
@click.option("--viewer", is_flag=True, help="Create a Viewer instead of an Admin.")
@password_stdin_option
def create_account(username: str, viewer: bool, password_stdin: bool):
    """Create a local Admin (or Viewer) that signs in with a password."""
    username = username.strip()
    problem = username_problem(username)
    if problem:
        raise click.ClickException(f"Invalid username: {problem}")
    role = accounts.VIEWER if viewer else accounts.ADMIN
    session = db.session
    with database_errors():
        existing = accounts.find_by_name(session, username)
        if existing is not None:
            hint = "" if existing.scim_managed else "; use `flask admin reset-password`"
            raise click.ClickException(accounts.taken_message(existing) + hint)
        # End the read before waiting at the prompt: an open SQLite snapshot
        # could not become the write later if another writer came in between.
        session.rollback()
    password = read_password(username, password_stdin)
    with database_errors():
        try:
            user = accounts.create_local_user(session, username, password, role)
        except accounts.AccountError as error:
            session.rollback()
            raise click.ClickException(str(error)) from None
        audit.record(session, ACTOR, "account.create", f"local {role} '{user.user_name}' created")
        session.commit()
    click.echo(f"Created local {role} '{username}'. It signs in with this password at /login.")


def find_local_account(username: str) -> User:
    """Return the local account called username, or fail with what to do instead."""
    user = accounts.find_by_name(db.session, username)
    if user is None:
        raise click.ClickException(
            f"No account called '{username}'; create one with `flask admin create {username}`"
        )
    if user.scim_managed:
        raise click.ClickException(
            f"'{user.user_name}' is provisioned by SCIM (Entra) and cannot have a password; "
            "create a local account with `flask admin create`"
        )
    return user


@admin_cli.command("reset-password")
@click.argument("username")
@password_stdin_option
def reset_password(username: str, password_stdin: bool):
    """Set a new password for a local account, enabling it if disabled."""
    username = username.strip()
    session = db.session
    with database_errors():
        user_name = find_local_account(username).user_name
        session.rollback()  # as in create: no open read while a person types
    password = read_password(user_name, password_stdin)
    with database_errors():
        user = find_local_account(username)
        was_disabled = not user.active
        accounts.set_password(user, password)
        user.active = True
        role, user_name = user.role, user.user_name
        detail = f"password of local {role} '{user_name}' reset"
        if was_disabled:
            detail += "; account enabled again"
        audit.record(session, ACTOR, "account.reset-password", detail)
        session.commit()
    click.echo(f"New password set for local {role} '{user_name}'.")
    if was_disabled:
        click.echo("The account was disabled; it is enabled again.")
    if role != accounts.ADMIN:
        click.echo("It is a Viewer; for an Admin use `flask admin create NEW_USERNAME`.")


@help_cli.command("screenshots")
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Folder for the pictures and screenshots.json (default: static/help).",
)
@click.option(
    "--only",
    type=click.Choice(list(screenshots.SHOTS)),
    default=None,
    help="Take just this picture (the demo still runs through every step).",
)
def take_screenshots(out: Path | None, only: str | None):
    """Photograph the wizard on demo data, in headless chromium, into static/help/."""
    out = out or Path(current_app.static_folder) / "help"
    try:
        report = screenshots.generate(out, only=only, echo=click.echo)
    except screenshots.ScreenshotError as error:
        raise click.ClickException(str(error)) from None
    for item in report.written:
        warning = "  TOO BIG" if item.size > screenshots.MAX_BYTES else ""
        click.echo(f"{item.path}  {item.width}x{item.height}  {item.size / 1000:.0f} KB{warning}")
    click.echo(f"Manifest: {report.manifest}")
    click.echo(
        f"Token masked in the page before its picture ({report.masked} place"
        f"{'' if report.masked == 1 else 's'}); every step done in the demo: "
        f"{report.done_steps} of {report.steps}."
    )


def _count(number: int, one: str, many: str) -> str:
    return f"{number} {one if number == 1 else many}"


@log_cli.command("prune")
@click.option(
    "--max-rows",
    type=click.IntRange(min=0),
    default=None,
    help="Keep at most this many requests (default: SCIM_LOG_MAX_ROWS).",
)
@click.option(
    "--max-age-days",
    type=click.IntRange(min=0),
    default=None,
    help="Remove requests older than this (default: SCIM_LOG_MAX_AGE_DAYS).",
)
@click.option(
    "--audit-max-age-days",
    type=click.IntRange(min=0),
    default=None,
    help="Remove admin actions older than this (default: AUDIT_MAX_AGE_DAYS).",
)
def prune_log(max_rows: int | None, max_age_days: int | None, audit_max_age_days: int | None):
    """Remove old requests and admin actions from the log; print how many went."""
    bounds = log.Bounds.from_config(current_app.config)
    bounds = replace(
        bounds,
        max_rows=bounds.max_rows if max_rows is None else max_rows,
        max_age_days=bounds.max_age_days if max_age_days is None else max_age_days,
        audit_max_age_days=(
            bounds.audit_max_age_days if audit_max_age_days is None else audit_max_age_days
        ),
    )
    session = db.session
    with database_errors():
        begin_write(session)
        pruned = log.prune_all(session, bounds)
        rows = _count(pruned.log_rows, "provisioning log row", "provisioning log rows")
        events = _count(pruned.audit_events, "audit event", "audit events")
        if pruned.log_rows or pruned.audit_events:
            audit.record(session, ACTOR, "log.prune", f"{rows} and {events} removed")
        session.commit()
    click.echo(
        f"Removed {rows} (keeping the newest {bounds.max_rows:,} at most, "
        f"none older than {bounds.max_age_days} days)."
    )
    click.echo(f"Removed {events} (none older than {bounds.audit_max_age_days} days).")


@click.command("backup")
@click.argument("path", type=click.Path(path_type=Path))
@click.option("--force", is_flag=True, help="Replace PATH when it already exists.")
@with_appcontext
def backup_database(path: Path, force: bool):
    """Copy the SQLite database to PATH while the app keeps running (a file, or a folder).

    On PostgreSQL, print the pg_dump command that does the same.
    """
    url = db.engine.url
    try:
        source = backup.sqlite_path(url)
    except backup.BackupError as error:
        raise click.ClickException(str(error)) from None
    if source is None:
        raise click.ClickException(
            "The database is PostgreSQL: back it up with pg_dump, which makes a consistent "
            "copy while the app runs. It asks for the password if there is one "
            "(or set PGPASSWORD):\n"
            f"  {backup.pg_dump_command(url, path)}\n"
            "and restore it into an empty database with:\n"
            f"  {backup.pg_restore_command(url, path)}"
        )
    try:
        made = backup.backup_sqlite(source, path, force=force)
    except backup.BackupError as error:
        raise click.ClickException(str(error)) from None
    counts = ", ".join(f"{table} {count:,}" for table, count in made.counts.items())
    click.echo(f"Backed up {source} to {made.path} ({made.size / 1000:,.0f} KB).")
    click.echo(f"Integrity check ok; rows: {counts}.")
    click.echo(
        f"To restore: stop the app, delete {source.name}-wal and {source.name}-shm if they "
        f"are there, then copy {made.path} over {source}."
    )
