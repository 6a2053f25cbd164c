"""The load generator every contender gets: a pool of threads, one HTTP connection each.

Entra sends several requests at once; each thread here stands for one of them.
A task is a short sequence (a lookup, then a create) run on one thread, and
every request is timed and checked against the statuses it may answer.
"""

import http.client
import json
import statistics
import threading
import time
from collections.abc import Callable
from collections.abc import Iterable
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

SCIM_JSON = "application/scim+json"
RETRYABLE = (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError)


class Answer:
    """A response: status and parsed JSON body (None when empty)."""

    __slots__ = ("status", "body")

    def __init__(self, status: int, body: Any):
        self.status = status
        self.body = body


@dataclass(frozen=True)
class Sample:
    """One request: what kind it was, how long it took, and whether it was right."""

    kind: str
    seconds: float
    ok: bool


class Client:
    """Send SCIM requests to one server from `concurrency` threads."""

    def __init__(self, scim_url: str, token: str, concurrency: int = 8):
        parts = urlsplit(scim_url)
        self.host = parts.hostname or "127.0.0.1"
        self.port = parts.port or 80
        self.prefix = parts.path.rstrip("/")
        self.concurrency = concurrency
        self.headers = {
            "Authorization": f"Bearer {token}",
            "Accept": SCIM_JSON,
            "Content-Type": SCIM_JSON,
        }
        self.local = threading.local()
        self.lock = threading.Lock()
        self.failures: list[str] = []
        self._thread_samples: list[list[Sample]] = []

    def _connection(self) -> http.client.HTTPConnection:
        """Return this thread's connection, opening it on first use."""
        connection = getattr(self.local, "connection", None)
        if connection is None:
            connection = http.client.HTTPConnection(self.host, self.port, timeout=120)
            self.local.connection = connection
        return connection

    def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        kind: str = "",
        expect: tuple[int, ...] = (200,),
    ) -> Answer:
        """Send one request, time it, record whether its status was expected; return it."""
        payload = None if body is None else json.dumps(body).encode()
        started = time.perf_counter()
        status, data = self._send(method, self.prefix + path, payload)
        seconds = time.perf_counter() - started
        ok = status in expect
        samples = getattr(self.local, "samples", None)
        if samples is None:
            samples = self.local.samples = []
            with self.lock:
                self._thread_samples.append(samples)
        samples.append(Sample(kind or method, seconds, ok))
        if not ok:
            with self.lock:
                if len(self.failures) < 20:
                    self.failures.append(f"{method} {path} -> {status} {data[:300]!r}")
        parsed = json.loads(data) if data and status != 0 else None
        return Answer(status, parsed)

    def _send(self, method: str, path: str, payload: bytes | None) -> tuple[int, bytes]:
        """Send one request and return its status and body; status 0 when the connection failed."""
        for attempt in (1, 2):
            connection = self._connection()
            try:
                connection.request(method, path, body=payload, headers=self.headers)
                response = connection.getresponse()
                data = response.read()
                if response.will_close:
                    connection.close()
                return response.status, data
            except RETRYABLE as error:
                # A kept-alive connection the server closed while idle: reconnect once.
                connection.close()
                if attempt == 2:
                    return 0, str(error).encode()
            except OSError as error:
                connection.close()
                return 0, str(error).encode()
        return 0, b""

    def run(self, tasks: Iterable[Callable[["Client"], None]]) -> tuple[list[Sample], float]:
        """Run the tasks on the thread pool; return their samples and the wall time taken."""
        self._thread_samples = []
        source: Iterator[Callable[[Client], None]] = iter(tasks)
        source_lock = threading.Lock()
        errors: list[BaseException] = []

        def worker() -> None:
            self.local.samples = None
            try:
                while True:
                    with source_lock:
                        task = next(source, None)
                    if task is None:
                        return
                    task(self)
            except Exception as error:  # a bug in a task must not hang the run
                errors.append(error)
            finally:
                self.close()

        self.local.samples = None
        started = time.perf_counter()
        threads = [threading.Thread(target=worker) for _ in range(self.concurrency)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        wall = time.perf_counter() - started
        if errors:
            raise errors[0]
        samples = [sample for chunk in self._thread_samples for sample in chunk]
        return samples, wall

    def close(self) -> None:
        """Forget this thread's connection (the pool threads end with the run)."""
        connection = getattr(self.local, "connection", None)
        if connection is not None:
            connection.close()
            self.local.connection = None


def percentile(values: list[float], fraction: float) -> float:
    """Return the fraction-th percentile of values (nearest rank), 0 for none."""
    if not values:
        return 0.0
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(fraction * len(ordered) + 0.5) - 1))
    return ordered[index]


def median(values: list[float]) -> float:
    """Return the median of values, 0 for none."""
    return statistics.median(values) if values else 0.0
