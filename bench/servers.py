"""Start the servers the benchmark compares, each on 127.0.0.1, and read their CPU and memory.

- the app under gunicorn, on a fresh database (SQLite file or a new PostgreSQL database);
- bench.minimal_app under the same gunicorn settings;
- bench.durable_app, the minimal app storing users, the same again on a fresh database;
- scim2-server's own command: one process, its in-memory store.
"""

import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from dataclasses import field
from pathlib import Path

import httpx
import psutil
from sqlalchemy import create_engine
from sqlalchemy import make_url
from sqlalchemy import text

from unleash_wizard import create_app
from unleash_wizard.extensions import db
from unleash_wizard.help.screenshots import free_port
from unleash_wizard.help.screenshots import stop
from unleash_wizard.store import settings
from unleash_wizard.store import tokens

ROOT = Path(__file__).resolve().parent.parent
STARTUP_SECONDS = 30.0
PAGE_SIZE = os.sysconf("SC_PAGE_SIZE")
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class Gunicorn:
    """The gunicorn settings every gunicorn-served contender gets."""

    workers: int = 2
    threads: int = 4
    preload: bool = True

    def describe(self) -> str:
        """Return the settings as gunicorn flags."""
        worker = "gthread" if self.threads > 1 else "sync"
        flags = f"-w {self.workers} --threads {self.threads} ({worker})"
        return flags + (" --preload" if self.preload else "")

    def flags(self) -> list[str]:
        """Return the command-line flags."""
        return [
            "-w",
            str(self.workers),
            "--threads",
            str(self.threads),
            "--timeout",
            "120",
            "--graceful-timeout",
            "5",
            "--log-level",
            "warning",
            *(["--no-control-socket"] if _has_control_socket() else []),
            *(["--preload"] if self.preload else []),
        ]


def _has_control_socket() -> bool:
    """Return whether this gunicorn opens a control socket (and so has --no-control-socket)."""
    from gunicorn.config import KNOWN_SETTINGS

    return any(setting.name == "control_socket_disable" for setting in KNOWN_SETTINGS)


@dataclass
class Server:
    """A running contender: where its SCIM API answers, its token and its processes."""

    name: str
    scim_url: str  # http://127.0.0.1:PORT/scim/v2, or /v2 for scim2-server
    token: str
    process: subprocess.Popen
    db_url: str | None = None
    log_path: Path | None = None
    _pids: list[int] = field(default_factory=list)

    def pids(self) -> list[int]:
        """Return the ids of the server's processes: the master and its workers."""
        try:
            parent = psutil.Process(self.process.pid)
            return [parent.pid, *(child.pid for child in parent.children(recursive=True))]
        except psutil.NoSuchProcess:
            return []

    def cpu_seconds(self) -> float:
        """Return the user plus system CPU time the server's processes have used so far."""
        total = 0
        for pid in self.pids():
            try:
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            except FileNotFoundError:
                continue
            total += int(fields[11]) + int(fields[12])  # utime, stime (man 5 proc)
        return total / CLOCK_TICKS

    def memory(self) -> tuple[int, int]:
        """Return the summed resident set size and peak resident set size (VmHWM), in bytes."""
        rss = peak = 0
        for pid in self.pids():
            try:
                status = Path(f"/proc/{pid}/status").read_text()
            except FileNotFoundError:
                continue
            for line in status.splitlines():
                if line.startswith("VmRSS:"):
                    rss += int(line.split()[1]) * 1024
                elif line.startswith("VmHWM:"):
                    peak += int(line.split()[1]) * 1024
        return rss, peak

    def log_tail(self, size: int = 3000) -> str:
        """Return the end of the server's output."""
        if self.log_path is None:
            return ""
        try:
            return self.log_path.read_text(errors="replace")[-size:]
        except FileNotFoundError:
            return ""


def _wait_until_up(url: str, process: subprocess.Popen, log_path: Path) -> None:
    """Wait until url answers below 500, or raise with the end of the server's output."""
    deadline = time.monotonic() + STARTUP_SECONDS
    last = "no answer"
    while time.monotonic() < deadline:
        if process.poll() is not None:
            tail = log_path.read_text(errors="replace")[-3000:]
            raise RuntimeError(f"server exited with status {process.returncode}:\n{tail}")
        try:
            response = httpx.get(url, timeout=2.0)
            if response.status_code < 500:
                return
            last = f"answered {response.status_code}"
        except httpx.HTTPError as error:
            last = str(error)
        time.sleep(0.1)
    raise RuntimeError(f"server did not start in {STARTUP_SECONDS:.0f}s: {last}")


@contextmanager
def _spawn(command: list[str], env: dict[str, str], ready_url: str, folder: Path):
    """Start command, wait until ready_url answers, yield the process and its log; stop it."""
    log_path = folder / f"server-{uuid.uuid4().hex[:8]}.log"
    with log_path.open("w") as output:
        process = subprocess.Popen(
            command, cwd=ROOT, env=env, stdout=output, stderr=subprocess.STDOUT
        )
        try:
            _wait_until_up(ready_url, process, log_path)
            yield process, log_path
        finally:
            stop(process)


# ---------------------------------------------------------------------------
# Databases
# ---------------------------------------------------------------------------


@contextmanager
def fresh_database(base_url: str | None, folder: Path, label: str) -> Iterator[str]:
    """Yield the URL of a new, empty database and remove it afterwards.

    With no base_url it is an SQLite file in folder; with a PostgreSQL URL it is
    a new database uwz_bench_LABEL_XXXX on that server.
    """
    if not base_url or base_url.startswith("sqlite"):
        path = folder / f"{label}-{uuid.uuid4().hex[:8]}.db"
        yield f"sqlite:///{path}"
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
        return
    url = make_url(base_url)
    name = f"uwz_bench_{label}_{uuid.uuid4().hex[:8]}"
    admin = create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield url.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def prepare_database(db_url: str) -> str:
    """Create the schema on db_url, switch SCIM on and return a new token's secret."""
    app = create_app(
        {
            "TESTING": True,
            "SECRET_KEY": "bench-setup",
            "SQLALCHEMY_DATABASE_URI": db_url,
            "RATELIMIT_ENABLED": False,
        }
    )
    with app.app_context():
        db.create_all()
        settings.put(db.session, settings.SCIM_ENABLED, True)
        issued = tokens.issue(db.session, "entra-bench")
        db.session.commit()
        db.session.remove()
        db.engine.dispose()
    return issued.secret


def durability(db_url: str) -> str:
    """Return how the database makes a commit durable, as the app configures it."""
    if db_url.startswith("sqlite"):
        # extensions.configure_sqlite sets these on every connection the app opens.
        return "SQLite WAL, synchronous=FULL (each commit is fsynced)"
    engine = create_engine(db_url)
    with engine.connect() as connection:
        fsync = connection.execute(text("SHOW fsync")).scalar()
        sync = connection.execute(text("SHOW synchronous_commit")).scalar()
        version = connection.execute(text("SHOW server_version")).scalar()
    engine.dispose()
    return f"PostgreSQL {version}, fsync={fsync}, synchronous_commit={sync}"


# ---------------------------------------------------------------------------
# The contenders
# ---------------------------------------------------------------------------


def _gunicorn(target: str, port: int, settings_: Gunicorn) -> list[str]:
    """Return the command serving the WSGI target on 127.0.0.1:port."""
    return [
        sys.executable,
        "-m",
        "gunicorn",
        *settings_.flags(),
        "-b",
        f"127.0.0.1:{port}",
        target,
    ]


@contextmanager
def serve_app(db_url: str, settings_: Gunicorn, folder: Path) -> Iterator[Server]:
    """Serve the app (app:app) under gunicorn on an empty database at db_url."""
    secret = prepare_database(db_url)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {
        **os.environ,
        "DATABASE_URL": db_url,
        "SECRET_KEY": secrets.token_hex(32),
        "PUBLIC_URL": url,
        "RATELIMIT_STORAGE_URI": "memory://",
        "PYTHONUNBUFFERED": "1",
    }
    command = _gunicorn("app:app", port, settings_)
    with _spawn(command, env, url + "/healthz", folder) as (process, log_path):
        yield Server("unleash-wizard", url + "/scim/v2", secret, process, db_url, log_path)


@contextmanager
def serve_minimal(settings_: Gunicorn, folder: Path) -> Iterator[Server]:
    """Serve bench.minimal_app under gunicorn with the same settings."""
    token = secrets.token_urlsafe(32)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {**os.environ, "BENCH_TOKEN": token, "PYTHONUNBUFFERED": "1"}
    command = _gunicorn("bench.minimal_app:app", port, settings_)
    with _spawn(command, env, url + "/healthz", folder) as (process, log_path):
        yield Server("minimal Flask", url + "/scim/v2", token, process, None, log_path)


@contextmanager
def serve_durable(db_url: str, settings_: Gunicorn, folder: Path) -> Iterator[Server]:
    """Serve bench.durable_app under gunicorn with the same settings, on db_url."""
    from .durable_app import create_table

    create_table(db_url)
    token = secrets.token_urlsafe(32)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {
        **os.environ,
        "BENCH_TOKEN": token,
        "DURABLE_DATABASE_URL": db_url,
        "PYTHONUNBUFFERED": "1",
    }
    command = _gunicorn("bench.durable_app:app", port, settings_)
    with _spawn(command, env, url + "/healthz", folder) as (process, log_path):
        yield Server("durable Flask", url + "/scim/v2", token, process, db_url, log_path)


def scim2_server_command() -> list[str]:
    """Return the command that starts scim2-server, or raise when it is not installed."""
    found = shutil.which("scim2-server", path=str(Path(sys.executable).parent))
    if found is None:
        raise RuntimeError("scim2-server is not installed: pip install -e '.[bench]'")
    return [found]


@contextmanager
def serve_scim2_server(folder: Path) -> Iterator[Server]:
    """Serve scim2-server's own command: one process, its in-memory store."""
    token = secrets.token_urlsafe(32)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    # One argument: a token_urlsafe() that starts with "-" would read as an option.
    command = [*scim2_server_command(), "--port", str(port), f"--bearer-token={token}"]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    with _spawn(command, env, url + "/v2/ServiceProviderConfig", folder) as (process, log_path):
        yield Server("scim2-server", url + "/v2", token, process, None, log_path)


def scratch_folder() -> tempfile.TemporaryDirectory:
    """Return a temporary folder for SQLite files and server output."""
    return tempfile.TemporaryDirectory(prefix="uwz-bench-")
