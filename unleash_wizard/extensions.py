"""Flask extensions, created unbound and attached to the app in init_app()."""

from authlib.integrations.flask_client import OAuth
from flask import Flask
from flask import current_app
from flask_login import LoginManager
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from flask_wtf import CSRFProtect
from limits.storage import storage_from_string
from limits.strategies import FixedWindowRateLimiter
from limits.strategies import RateLimiter
from sqlalchemy import event
from sqlalchemy.engine import Engine

from .store.models import Base
from .store.transactions import SQLITE_BEGIN
from .store.transactions import SQLITE_BUSY_SECONDS
from .store.transactions import sqlite_begin_immediate

db = SQLAlchemy(model_class=Base)
migrate = Migrate()
login_manager = LoginManager()
csrf = CSRFProtect()
oauth = OAuth()


class RateLimits:
    """Counters of failed sign-ins and bad SCIM tokens, per client address.

    The limits library's fixed-window counters in RATELIMIT_STORAGE_URI
    (memory, or Redis so that instances count together). Nothing limits whole
    routes, so nothing runs on every request: Flask-Limiter, used before,
    evaluated its (empty) route limits on each one, a measurable share of a
    SCIM request's CPU.
    """

    def init_app(self, app: Flask) -> None:
        storage = storage_from_string(app.config["RATELIMIT_STORAGE_URI"])
        app.extensions["rate_limits"] = FixedWindowRateLimiter(storage)

    @property
    def limiter(self) -> RateLimiter:
        """Return the current app's counters."""
        return current_app.extensions["rate_limits"]


limiter = RateLimits()

MIGRATIONS = str(__import__("pathlib").Path(__file__).resolve().parent / "migrations")


def init_app(app: Flask) -> None:
    """Bind every extension to app."""
    db.init_app(app)
    migrate.init_app(app, db, directory=MIGRATIONS, render_as_batch=True)
    login_manager.init_app(app)
    csrf.init_app(app)
    oauth.init_app(app)
    limiter.init_app(app)
    with app.app_context():
        if db.engine.dialect.name == "sqlite":
            configure_sqlite(db.engine)


def _lower(value):
    return value.lower() if isinstance(value, str) else value


def configure_sqlite(engine: Engine) -> None:
    """Turn on WAL and foreign keys, and let writers take the lock up front.

    pysqlite opens transactions lazily with a plain BEGIN: a request that reads
    and then writes can then fail with "database is locked" when another writer
    got in between, and the busy timeout does not help with that case. Taking
    over BEGIN lets a write transaction start with BEGIN IMMEDIATE (see
    store.transactions.begin_write), so writers wait for the lock
    (store.transactions.sqlite_begin_immediate) instead.
    """

    @event.listens_for(engine, "connect")
    def on_connect(dbapi_connection, _record):
        dbapi_connection.isolation_level = None
        # SQLite's lower() folds ASCII only; filters compare case-insensitively
        # in every script (RFC 7643 §2.1 caseExact false), as the Python-lowered
        # key columns do.
        dbapi_connection.create_function("lower", 1, _lower, deterministic=True)
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_SECONDS * 1000}")
        cursor.execute("PRAGMA foreign_keys = ON")
        if engine.url.database not in (None, "", ":memory:"):
            cursor.execute("PRAGMA journal_mode = WAL")
            cursor.execute("PRAGMA synchronous = FULL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def on_begin(connection):
        mode = connection.get_execution_options().get(SQLITE_BEGIN, "DEFERRED")
        if mode == "IMMEDIATE":
            sqlite_begin_immediate(connection.connection.dbapi_connection)
        else:
            connection.exec_driver_sql(f"BEGIN {mode}")
