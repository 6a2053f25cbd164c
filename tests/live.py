"""Run the real app under gunicorn, as production does, for tests that need a live server.

The schema, a SCIM token and the "SCIM on" setting are written in-process
first; then gunicorn serves ``app:app`` from the repository root on a free
127.0.0.1 port with DATABASE_URL, SECRET_KEY and PUBLIC_URL in its environment.
"""

import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from dataclasses import field
from pathlib import Path
from typing import Any

import httpx

from unleash_wizard import create_app
from unleash_wizard.extensions import db
from unleash_wizard.help.screenshots import free_port
from unleash_wizard.help.screenshots import stop
from unleash_wizard.store import settings
from unleash_wizard.store import tokens

ROOT = Path(__file__).resolve().parent.parent
STARTUP_SECONDS = 60.0


@dataclass(frozen=True)
class LiveServer:
    """A running gunicorn: where it answers and the bearer token it accepts."""

    url: str  # http://127.0.0.1:PORT
    token: str
    db_url: str
    workers: int
    threads: int
    output: Any = field(repr=False)

    def log(self) -> str:
        """Return what gunicorn and the app have written so far."""
        self.output.flush()
        self.output.seek(0)
        text = self.output.read()
        self.output.seek(0, os.SEEK_END)
        return text

    @property
    def scim_url(self) -> str:
        """Return the base of the SCIM API."""
        return self.url + "/scim/v2"

    @property
    def headers(self) -> dict[str, str]:
        """Return the headers Entra sends: the bearer token and SCIM JSON."""
        return {
            "Authorization": f"Bearer {self.token}",
            "Accept": "application/scim+json",
            "Content-Type": "application/scim+json",
        }

    def client(self, **kwargs) -> httpx.Client:
        """Return an httpx client on the SCIM API with the token set."""
        return httpx.Client(base_url=self.scim_url, headers=self.headers, **kwargs)


def _has_control_socket() -> bool:
    """Return whether this gunicorn has the control socket (and --no-control-socket)."""
    from gunicorn.config import KNOWN_SETTINGS

    return any(setting.name == "control_socket_disable" for setting in KNOWN_SETTINGS)


def prepare_database(db_url: str, blank: bool = False) -> str:
    """Create an empty schema on db_url, switch SCIM on and return a fresh token's secret.

    blank leaves SCIM off with no token, as on a first start ("" is returned).
    """
    app = create_app(
        {
            "TESTING": True,
            "SECRET_KEY": "live-setup",
            "SQLALCHEMY_DATABASE_URI": db_url,
            "RATELIMIT_ENABLED": False,
        }
    )
    with app.app_context():
        db.drop_all()
        db.create_all()
        if blank:
            db.session.remove()
            db.engine.dispose()
            return ""
        settings.put(db.session, settings.SCIM_ENABLED, True)
        issued = tokens.issue(db.session, "entra-live")
        db.session.commit()
        secret = issued.secret
        db.session.remove()
        db.engine.dispose()
    return secret


def drop_database(db_url: str) -> None:
    """Drop every table on db_url once the server is gone."""
    app = create_app(
        {
            "TESTING": True,
            "SECRET_KEY": "live-teardown",
            "SQLALCHEMY_DATABASE_URI": db_url,
            "RATELIMIT_ENABLED": False,
        }
    )
    with app.app_context():
        db.drop_all()
        db.session.remove()
        db.engine.dispose()


def _wait_until_healthy(url: str, process: subprocess.Popen, deadline: float) -> None:
    last_error = "no answer"
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"gunicorn exited with status {process.returncode}")
        try:
            response = httpx.get(url + "/healthz", timeout=2.0)
            if response.status_code == 200:
                return
            last_error = f"/healthz answered {response.status_code}"
        except httpx.HTTPError as error:
            last_error = str(error)
        time.sleep(0.1)
    raise RuntimeError(f"gunicorn did not become healthy in {STARTUP_SECONDS:.0f}s: {last_error}")


def server_env(db_url: str, url: str) -> dict[str, str]:
    """Return the environment a test gunicorn runs with: this database, this address."""
    return {
        **os.environ,
        "DATABASE_URL": db_url,
        "SECRET_KEY": "live-server-secret-key",
        "PUBLIC_URL": url,
        "PYTHONUNBUFFERED": "1",
    }


def gunicorn_command(
    port: int, workers: int, threads: int, preload: bool = True, timeout: int = 60
) -> list[str]:
    """Return the command that serves app:app on 127.0.0.1:port under gunicorn."""
    return [
        sys.executable,
        "-m",
        "gunicorn",
        "-w",
        str(workers),
        "--threads",
        str(threads),
        "-b",
        f"127.0.0.1:{port}",
        "--graceful-timeout",
        "2",
        "--timeout",
        str(timeout),
        # Newer gunicorns open ~/.gunicorn/gunicorn.ctl; test servers side by side
        # would fight over that one path.
        *(["--no-control-socket"] if _has_control_socket() else []),
        *(["--preload"] if preload else []),
        "app:app",
    ]


@contextmanager
def run_live_server(
    db_url: str,
    workers: int = 2,
    threads: int = 1,
    token: str | None = None,
    preload: bool = True,
    blank: bool = False,
) -> Iterator[LiveServer]:
    """Serve the app under gunicorn on db_url for the duration of the block.

    Without a token the database is set up first (and dropped afterwards);
    with one, the server joins a database another server set up, as a second
    app instance behind a load balancer would.

    preload imports the app once in gunicorn's master before it forks the
    workers, instead of once per worker: a start takes one import (about two
    seconds of CPU) instead of one per worker. create_app() opens no database
    connection, so each worker still gets its own connections, as without it.

    gunicorn's output goes to a temporary file; when the server fails to start,
    or the block raises, it is printed so the failure can be read in pytest's
    captured output.
    """
    owner = token is None
    secret = prepare_database(db_url, blank=blank) if owner else token
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = server_env(db_url, url)
    command = gunicorn_command(port, workers, threads, preload=preload)
    # Append mode: gunicorn writes at the end while log() seeks to read.
    with tempfile.TemporaryFile(mode="a+", prefix="gunicorn-") as output:
        process = subprocess.Popen(
            command, cwd=ROOT, env=env, stdout=output, stderr=subprocess.STDOUT
        )
        failed = True
        try:
            _wait_until_healthy(url, process, time.monotonic() + STARTUP_SECONDS)
            yield LiveServer(url, secret, db_url, workers, threads, output)
            failed = False
        finally:
            stop(process)
            if failed:
                output.seek(0)
                print(f"--- gunicorn output ({' '.join(command)}) ---", file=sys.stderr)
                print(output.read()[-20_000:], file=sys.stderr)
            if owner:
                drop_database(db_url)
