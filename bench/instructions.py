"""Count the instructions one SCIM request costs, with valgrind, in one process.

    python -m bench.instructions              # every kind below
    python -m bench.instructions lookup 200   # one kind, 200 requests

Kinds: the app's lookup and create, the minimal app's lookup, the same lookup
as one WSGI function with no framework (bench.bare_app), and the durable
app's (bench.durable_app) lookup and create.

CPU time on a shared machine moves by 10 to 30% between runs; an instruction
count does not. Each kind runs in a process of its own under valgrind's
callgrind (Debian's valgrind package): the app on a fresh SQLite file, set up
as app.py sets it up, called straight through WSGI (no server), a warm-up of
50 requests, then the measured requests. Only the measured loop is counted:
it runs inside itertools.starmap, and callgrind collects only below that C
function (--toggle-collect), which setup does not call. The log rows of the
measured lookups wait in their batch (store.log.Pending) until the loop ends
and are then written inside the counted part too, so a lookup's count holds
its share of the batch's write.
"""

import collections
import functools
import io
import itertools
import json
import os
import re
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
KINDS = ("lookup", "create", "minimal", "bare", "durable-lookup", "durable-create")
STORELESS = ("minimal", "bare")  # nothing to create: they look up and answer empty
WARM_UP = 50


# Built by hand: the environ is made inside the counted loop, and Werkzeug's
# EnvironBuilder would add its own instructions to every request's count.
def _environ(secret: str, method: str, path: str, query: str = "", body: bytes = b"") -> dict:
    return {
        "REQUEST_METHOD": method,
        "PATH_INFO": path,
        "QUERY_STRING": query,
        "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": "8000",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "wsgi.url_scheme": "http",
        "wsgi.input": io.BytesIO(body),
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": True,
        "wsgi.multiprocess": True,
        "wsgi.run_once": False,
        "wsgi.version": (1, 0),
        "HTTP_HOST": "127.0.0.1:8000",
        "HTTP_AUTHORIZATION": f"Bearer {secret}",
        "CONTENT_TYPE": "application/scim+json",
        "CONTENT_LENGTH": str(len(body)),
        "REMOTE_ADDR": "127.0.0.1",
    }


def _requests(kind: str, folder: str) -> tuple[Callable[[int], None], Callable[[], None]]:
    """Return a function sending the request number i of this kind, and one finishing them.

    The finishing one writes the log rows still waiting in their batch.
    """
    finish: Callable[[], None] = lambda: None  # noqa: E731 - the minimal app keeps no log
    if kind in STORELESS:
        os.environ["BENCH_TOKEN"] = secret = "bench-instructions"
        if kind == "bare":
            from .bare_app import app
        else:
            from .minimal_app import app
    elif kind.startswith("durable"):
        os.environ["BENCH_TOKEN"] = secret = "bench-instructions"
        os.environ["DURABLE_DATABASE_URL"] = url = f"sqlite:///{folder}/durable.db"
        from .durable_app import app
        from .durable_app import create_table

        create_table(url)
    else:
        from unleash_wizard import create_app
        from unleash_wizard import freeze_setup

        from .servers import prepare_database

        db_url = f"sqlite:///{folder}/instructions.db"
        secret = prepare_database(db_url)
        settings = {"SECRET_KEY": "bench", "SQLALCHEMY_DATABASE_URI": db_url}
        # Reads' rows wait for finish(), not for a timer thread that the count
        # would leave out.
        app = create_app(
            {**settings, "RATELIMIT_ENABLED": False, "SCIM_LOG_READ_DELAY_SECONDS": 3600}
        )
        freeze_setup()  # as app.py, the WSGI entry, does
        from unleash_wizard.extensions import db
        from unleash_wizard.store import log

        with app.app_context():
            engine = db.engine
        finish = functools.partial(log.close_pending, engine)

    def call(environ: dict) -> None:
        statuses: list[str] = []
        body = b"".join(app(environ, lambda status, _headers, _info=None: statuses.append(status)))
        if statuses[0][:3] not in ("200", "201"):
            raise SystemExit(f"unexpected answer {statuses[0]}: {body[:300]!r}")

    def create(i: int) -> None:
        user = {
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
            "userName": f"u{i}@example.test",
            "externalId": str(uuid.uuid4()),
            "active": True,
            "displayName": f"User {i}",
            "emails": [{"primary": True, "type": "work", "value": f"u{i}@example.test"}],
            "name": {"givenName": "U", "familyName": str(i)},
        }
        call(_environ(secret, "POST", "/scim/v2/Users", body=json.dumps(user).encode()))

    def lookup(i: int) -> None:
        query = f"filter=userName+eq+%22u{i % WARM_UP}%40example.test%22"
        call(_environ(secret, "GET", "/scim/v2/Users", query))

    # Warm up, and the users the lookups find.
    for i in range(WARM_UP):
        (lookup if kind in STORELESS else create)(i)
    return (create if kind.endswith("create") else lookup), finish


def run(kind: str, count: int) -> None:
    """Send count requests of kind, in the loop callgrind counts (the child's side)."""
    with tempfile.TemporaryDirectory() as folder:
        send, finish = _requests(kind, folder)
        first = 1000  # past the warm-up's users, so creates never collide
        loop = itertools.starmap(send, ((first + i,) for i in range(count)))
        collections.deque(loop, maxlen=0)
        collections.deque(itertools.starmap(finish, [()]), maxlen=0)  # counted too


def measure(kind: str, count: int) -> float:
    """Return the instructions a request of kind costs, in millions."""
    command = [
        "valgrind",
        "--tool=callgrind",
        "--toggle-collect=starmap_next",
        "--callgrind-out-file=/dev/null",
        sys.executable,
        "-m",
        "bench.instructions",
        "--child",
        kind,
        str(count),
    ]
    env = {**os.environ, "PYTHONHASHSEED": "0"}
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True)
    found = re.search(r"Collected : (\d+)", done.stderr)
    if done.returncode != 0 or found is None:
        raise SystemExit(f"valgrind failed on {kind}:\n{done.stderr[-2000:]}")
    return int(found.group(1)) / count / 1e6


def main(argv: list[str]) -> int:
    if argv[:1] == ["--child"]:
        run(argv[1], int(argv[2]))
        return 0
    kinds = [argv[0]] if argv else list(KINDS)
    count = int(argv[1]) if len(argv) > 1 else 200
    for kind in kinds:
        if kind not in KINDS:
            raise SystemExit(f"kind is one of {', '.join(KINDS)}")
        print(f"{kind:8} {measure(kind, count):.3f} M instructions a request", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
