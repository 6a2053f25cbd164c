"""The durable baseline: the minimal app plus the least a SCIM server that keeps its users does.

A create is one row committed to the same kind of database the app runs on,
as durably (SQLite in WAL mode with synchronous=FULL, or PostgreSQL), in one
statement that commits itself; a lookup is one SELECT on a unique index. Nothing else:
no validation, no log row, no token in the database, no email table. The
benchmark serves it beside the minimal app so a run shows how much of the
app's cost over bare Flask any durable create pays, and how much is the app's
own work (docs/PERFORMANCE.md).

DURABLE_DATABASE_URL names the database, as an SQLAlchemy URL (sqlite:///path
or postgresql+psycopg://...), on which create_table() has made its table.
"""

import json
import os
import re
import sqlite3
import threading
import uuid
from typing import Any

from flask import Flask
from flask import Response
from flask import request
from sqlalchemy import create_engine
from sqlalchemy import make_url
from sqlalchemy import text

from .minimal_app import LIST_URN
from .minimal_app import answer
from .minimal_app import check_token

TABLE = (
    "CREATE TABLE durable_users"
    " (id VARCHAR(36) PRIMARY KEY, user_name VARCHAR(255) UNIQUE NOT NULL, body TEXT NOT NULL)"
)
USER_NAME_EQ = re.compile(r'^\s*userName\s+eq\s+"([^"]*)"\s*$', re.I)


def create_table(url: str) -> None:
    """Make the users table on url, before the server starts (not per worker thread)."""
    engine = create_engine(url)
    with engine.begin() as connection:
        connection.execute(text(TABLE))
    engine.dispose()


app = Flask(__name__)
app.before_request(check_token)
_local = threading.local()


class _Database:
    """One thread's connection in autocommit mode, and its database's placeholder."""

    def __init__(self, url: str):
        parsed = make_url(url)
        if parsed.get_backend_name() == "sqlite":
            self.connection: Any = sqlite3.connect(
                parsed.database, timeout=30, isolation_level=None, check_same_thread=False
            )
            self.connection.execute("PRAGMA journal_mode = WAL")
            self.connection.execute("PRAGMA synchronous = FULL")
            self.mark = "?"
        else:
            import psycopg

            plain = parsed.set(drivername="postgresql").render_as_string(hide_password=False)
            self.connection = psycopg.connect(plain, autocommit=True)
            self.mark = "%s"

    def rows(self, sql: str, params: tuple) -> list[tuple]:
        return self.connection.execute(sql.replace("?", self.mark), params).fetchall()

    def insert(self, sql: str, params: tuple) -> None:
        """Run sql as a transaction of its own: in autocommit mode, one statement commits."""
        self.connection.execute(sql.replace("?", self.mark), params)


def _database() -> _Database:
    found = getattr(_local, "database", None)
    if found is None:
        found = _local.database = _Database(os.environ["DURABLE_DATABASE_URL"])
    return found


@app.get("/healthz")
def healthz() -> Response:
    """Answer the benchmark's readiness check, once the database answers."""
    _database().rows("SELECT 1", ())
    return answer({"status": "ok"})


@app.get("/scim/v2/Users")
def search() -> Response:
    """Answer a userName lookup from the unique index."""
    found = USER_NAME_EQ.match(request.args.get("filter", ""))
    rows = (
        _database().rows("SELECT body FROM durable_users WHERE user_name = ?", (found.group(1),))
        if found
        else []
    )
    resources = [json.loads(body) for (body,) in rows]
    return answer(
        {
            "schemas": [LIST_URN],
            "totalResults": len(resources),
            "startIndex": 1,
            "itemsPerPage": len(resources),
            "Resources": resources,
        }
    )


@app.post("/scim/v2/Users")
def create() -> Response:
    """Store the user in a committed row and answer it with an id and meta added."""
    resource = request.get_json(force=True)
    resource["id"] = str(uuid.uuid4())
    resource["meta"] = {"resourceType": "User", "version": 'W/"1"'}
    _database().insert(
        "INSERT INTO durable_users (id, user_name, body) VALUES (?, ?, ?)",
        (resource["id"], str(resource.get("userName")), json.dumps(resource)),
    )
    return answer(resource, 201)
