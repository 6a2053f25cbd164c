"""The provisioning log: one row per /scim/v2 request, nothing secret in it.

Rows go on two bounds (SCIM_LOG_MAX_ROWS, SCIM_LOG_MAX_AGE_DAYS), and audit
events on AUDIT_MAX_AGE_DAYS: by ``flask log prune``, and by maybe_prune(),
which the SCIM API calls after each request and which prunes at most once an
interval across every instance sharing the database.
"""

import functools
import logging
import os
import re
import threading
import time
import weakref
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC
from datetime import datetime
from datetime import timedelta
from typing import Any

from sqlalchemy import ColumnElement
from sqlalchemy import delete
from sqlalchemy import func
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from . import audit
from .directory import Listing
from .models import ProvisioningLog
from .models import Setting
from .models import utcnow
from .prepared import Direct
from .prepared import Prepared
from .prepared import Target
from .tokens import TOKEN_PREFIX
from .tokens import touch_id
from .transactions import begin_write

PREFIX = "/scim/v2"
PER_PAGE = 50

# What the log page filters on; a value not listed here means "any".
STATUS_CLASSES: dict[str, tuple[int, int | None]] = {
    "2xx": (200, 300),
    "3xx": (300, 400),
    "4xx": (400, 500),
    "5xx": (500, 600),
    "errors": (400, None),
}
METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")
USER = "User"
GROUP = "Group"
OTHER = "other"
RESOURCES = (USER, GROUP, OTHER)

# A token sent where it doesn't belong (in the path, say) is never kept.
_TOKEN = re.compile(re.escape(TOKEN_PREFIX) + r"[A-Za-z0-9_-]{16,}")

# When the log was last pruned (ISO time), shared by every instance.
PRUNED_AT = "log_pruned_at"

# Every SCIM request writes one row: a Prepared INSERT (see prepared.py), not
# an ORM object, whose unit-of-work flush cost about as much as a whole lookup.
_INSERT = Prepared.insert(ProvisioningLog.__table__)


def row(**fields: Any) -> dict[str, Any]:
    """Return a log row stamped now, any token pasted into a path or detail masked."""
    for name in ("path", "resource_id", "detail"):
        if isinstance(fields.get(name), str):
            fields[name] = mask_tokens(fields[name])
    return {"at": utcnow(), **fields}


def record(target: Target, **fields: Any) -> None:
    """Add a log row (the caller commits), any token pasted into a path or detail masked."""
    _INSERT.execute(target, row(**fields))


def recent(session: Session, limit: int = 50) -> list[ProvisioningLog]:
    """Return the latest rows, newest first: by the time of their requests (see Pending)."""
    query = (
        select(ProvisioningLog)
        .order_by(ProvisioningLog.at.desc(), ProvisioningLog.id.desc())
        .limit(limit)
    )
    return list(session.scalars(query))


def count(session: Session) -> int:
    """Return the number of rows."""
    return session.scalar(select(func.count(ProvisioningLog.id))) or 0


def mask_tokens(text: str) -> str:
    """Return text with anything shaped like one of our tokens cut to its prefix."""
    return _TOKEN.sub(TOKEN_PREFIX + "…", text) if TOKEN_PREFIX in text else text


def resource_of(path: str) -> str | None:
    """Return "User" or "Group" when path is under /Users or /Groups, else None."""
    for name, collection in ((USER, "/Users"), (GROUP, "/Groups")):
        base = PREFIX + collection
        if path == base or path.startswith(base + "/"):
            return name
    return None


# ---------------------------------------------------------------------------
# Rows of reads, written in batches
# ---------------------------------------------------------------------------

# Consecutive failed writes of a batch before its rows are given up.
BATCH_ATTEMPTS = 3

_logger = logging.getLogger(__name__)


class Pending:
    """The log rows of one process's successful reads, written together a moment later.

    A read changes nothing but the log, yet its row written at once was a
    write transaction of its own: the write lock on SQLite, which every writer
    queues behind, an INSERT into a table with four indexes and a commit; a
    third of a lookup's CPU (docs/PERFORMANCE.md). Here each row waits at most
    ``delay`` seconds; then a timer thread writes every row waiting, and the
    token's last use when due, in one transaction.

    What that gives up: a row shows up to ``delay`` late (the wizard and the
    support view see a test connection a fraction of a second later), and its
    id can come after a later request's, whose row committed at once; the
    time stamp stays the request's. A crash of the process loses at most the
    last ``delay`` of reads' rows, never a change's row, nor a failure's (both
    are still written before the answer goes out). A normal exit, a gunicorn
    worker's included, waits for the timer: it is not a daemon thread.
    """

    def __init__(self, engine: Any, delay: float):
        self.delay = delay
        self._engine = weakref.ref(engine)  # the registry below is keyed by the engine
        self._reset()

    def _reset(self) -> None:
        """Start empty, no timer; also in a forked child, whose parent writes its own rows."""
        self._lock = threading.Lock()
        self._writing = threading.Lock()  # one batch at a time, so rows land in order
        self._rows: list[dict[str, Any]] = []
        self._touch: set[int] = set()
        self._timer: threading.Timer | None = None
        self._failures = 0

    def add(self, fields: dict[str, Any], touch: int | None = None) -> None:
        """Queue a row (see row()) and the id of a token whose last use is due (touch_id)."""
        with self._lock:
            self._rows.append(fields)
            if touch is not None:
                self._touch.add(touch)
            if self._timer is None:
                self._start_timer()

    def close(self) -> None:
        """Stop the timer and write what waits, once (before the engine is disposed of)."""
        with self._lock:
            timer, self._timer = self._timer, None
        if timer is not None:
            timer.cancel()
        self.flush(again=False)

    def waiting(self) -> int:
        """Return how many rows wait to be written."""
        with self._lock:
            return len(self._rows)

    def flush(self, again: bool = True) -> int:
        """Write every row waiting now, in one transaction; return how many were written.

        On a failure the rows wait for the next try, a delay later; after
        BATCH_ATTEMPTS failures in a row, or at once when again is False,
        they are given up, and the app's log says how many.
        """
        with self._writing:
            with self._lock:
                rows, self._rows = self._rows, []
                touch, self._touch = self._touch, set()
            engine = self._engine()
            if not (rows or touch) or engine is None:
                return 0
            try:
                _write_batch(engine, rows, touch)
            except Exception as error:  # noqa: BLE001
                # Any error: this runs on the timer's thread, where nobody would
                # catch it, and a new connection that fails raises the driver's
                # own exception, not SQLAlchemy's.
                self._failed(rows, touch, error, again)
                return 0
            self._failures = 0
            return len(rows)

    def _failed(
        self, rows: list[dict[str, Any]], touch: set[int], error: Exception, again: bool
    ) -> None:
        self._failures += 1
        if self._failures >= BATCH_ATTEMPTS or not again:
            self._failures = 0
            _logger.error(
                "%d provisioning log rows of reads could not be written and were given up: %s",
                len(rows),
                type(error).__name__,
            )
            return
        _logger.warning(
            "Could not write %d provisioning log rows of reads (%s); trying again",
            len(rows),
            type(error).__name__,
        )
        with self._lock:
            self._rows[:0] = rows
            self._touch |= touch
            if self._timer is None:
                self._start_timer()

    def _start_timer(self) -> None:
        timer = threading.Timer(self.delay, self._due)
        timer.name = "provisioning-log-batch"
        self._timer = timer
        timer.start()

    def _due(self) -> None:
        with self._lock:
            self._timer = None
        self.flush()


def _write_batch(engine: Any, rows: list[dict[str, Any]], touch: set[int]) -> None:
    direct = Direct(engine)
    try:
        direct.begin_write()
        _INSERT.execute_many(direct, rows)
        for token_id in sorted(touch):
            touch_id(direct, token_id)
        direct.commit()
    finally:
        direct.close()  # rolls back what a failure left


_pending: "weakref.WeakKeyDictionary[Any, Pending]" = weakref.WeakKeyDictionary()
_pending_lock = threading.Lock()


def pending(engine: Any, delay: float) -> Pending | None:
    """Return the batch of read rows for engine in this process; None when delay is 0."""
    if delay <= 0:
        return None
    batch = _pending.get(engine)
    if batch is None or batch.delay != delay:
        with _pending_lock:
            batch = _pending.get(engine)
            if batch is None or batch.delay != delay:
                if batch is not None:
                    batch.flush()
                batch = _pending[engine] = Pending(engine, delay)
    return batch


def close_pending(engine: Any) -> None:
    """Write the rows waiting for engine in this process and stop their timer."""
    batch = _pending.get(engine)
    if batch is not None:
        batch.close()


def _forget_pending_in_child() -> None:
    global _pending_lock
    _pending_lock = threading.Lock()
    for batch in list(_pending.values()):
        batch._reset()


os.register_at_fork(after_in_child=_forget_pending_in_child)


# ---------------------------------------------------------------------------
# Reading: the log page
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Filters:
    """What the log page shows: a status class, a method, a resource and a time span."""

    status: str | None = None  # a key of STATUS_CLASSES
    method: str | None = None  # one of METHODS
    resource: str | None = None  # one of RESOURCES
    since: datetime | None = None  # inclusive
    until: datetime | None = None  # exclusive

    def conditions(self) -> list[ColumnElement[bool]]:
        """Return the WHERE terms; each runs on an index of provisioning_log."""
        terms: list[ColumnElement[bool]] = []
        if self.status in STATUS_CLASSES:
            low, high = STATUS_CLASSES[self.status]
            terms.append(ProvisioningLog.status >= low)
            if high is not None:
                terms.append(ProvisioningLog.status < high)
        if self.method in METHODS:
            terms.append(ProvisioningLog.method == self.method)
        if self.resource == OTHER:
            terms.append(ProvisioningLog.resource_type.is_(None))
        elif self.resource in (USER, GROUP):
            terms.append(ProvisioningLog.resource_type == self.resource)
        if self.since is not None:
            terms.append(ProvisioningLog.at >= self.since)
        if self.until is not None:
            terms.append(ProvisioningLog.at < self.until)
        return terms


def page_of(session: Session, filters: Filters, page: int = 1, per_page: int = PER_PAGE) -> Listing:
    """Return one page of the rows that match, newest first (past the end: the last page)."""
    terms = filters.conditions()
    total = session.scalar(select(func.count(ProvisioningLog.id)).where(*terms)) or 0
    pages = max(1, -(-total // per_page))
    page = min(max(1, page), pages)
    query = (
        select(ProvisioningLog)
        .where(*terms)
        .order_by(ProvisioningLog.at.desc(), ProvisioningLog.id.desc())
        .offset((page - 1) * per_page)
        .limit(per_page)
    )
    return Listing(list(session.scalars(query)), total, page, per_page)


# ---------------------------------------------------------------------------
# Pruning
# ---------------------------------------------------------------------------


def prune(session: Session, max_rows: int, max_age_days: int, now: datetime | None = None) -> int:
    """Delete rows older than max_age_days or beyond the newest max_rows; return how many.

    Cheap when there is nothing to delete: the age bound is a range on the
    index on ``at``, and the count bound first compares the lowest and highest
    id (both ends of the primary key) before it looks for the cut-off row.
    """
    cutoff = (now or utcnow()) - timedelta(days=max_age_days)
    removed = session.execute(delete(ProvisioningLog).where(ProvisioningLog.at < cutoff)).rowcount
    # Ids only grow, so while the span of ids fits, the number of rows fits too.
    # Two scalar subqueries: SQLite reads min() or max() off the index only alone in a query.
    lowest = select(func.min(ProvisioningLog.id)).scalar_subquery()
    highest = select(func.max(ProvisioningLog.id)).scalar_subquery()
    low, high = session.execute(select(lowest, highest)).one()
    if low is not None and high - low + 1 > max_rows:
        newest = session.scalar(
            select(ProvisioningLog.id).order_by(ProvisioningLog.id.desc()).offset(max_rows).limit(1)
        )
        if newest is not None:
            removed += session.execute(
                delete(ProvisioningLog).where(ProvisioningLog.id <= newest)
            ).rowcount
    return removed or 0


@dataclass(frozen=True)
class Bounds:
    """How much of the log and the audit trail to keep, and how often to prune."""

    max_rows: int
    max_age_days: int
    audit_max_age_days: int
    interval: timedelta  # at most one prune per interval, across instances
    every_requests: int  # a process looks whether one is due after this many requests

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> "Bounds":
        """Return the bounds an app's config sets (the same object while the settings stay)."""
        return _bounds(*(config[name] for name in _BOUND_SETTINGS))


_BOUND_SETTINGS = (
    "SCIM_LOG_MAX_ROWS",
    "SCIM_LOG_MAX_AGE_DAYS",
    "AUDIT_MAX_AGE_DAYS",
    "SCIM_LOG_PRUNE_INTERVAL_SECONDS",
    "SCIM_LOG_PRUNE_EVERY_REQUESTS",
)


@functools.lru_cache(maxsize=16)
def _bounds(
    max_rows: Any, max_age_days: Any, audit_max_age_days: Any, interval: Any, every_requests: Any
) -> Bounds:
    # Every SCIM request asks (see maybe_prune); building the frozen
    # dataclass each time cost more than the rest of the check.
    return Bounds(
        max_rows=int(max_rows),
        max_age_days=int(max_age_days),
        audit_max_age_days=int(audit_max_age_days),
        interval=timedelta(seconds=float(interval)),
        every_requests=max(1, int(every_requests)),
    )


@dataclass(frozen=True)
class Pruned:
    """How many log rows and audit events one prune removed."""

    log_rows: int
    audit_events: int


def prune_all(session: Session, bounds: Bounds, now: datetime | None = None) -> Pruned:
    """Prune the log and the audit trail and note the time (the caller commits)."""
    now = now or utcnow()
    pruned = Pruned(
        prune(session, bounds.max_rows, bounds.max_age_days, now),
        audit.prune(session, bounds.audit_max_age_days, now),
    )
    _put_pruned_at(session, now)
    return pruned


class _ProcessGate:
    """Whether this process should look at the shared prune time: every N requests or interval."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.requests = 0
        self.next_check = 0.0  # time.monotonic(); 0 makes a process's first request look

    def due(self, every_requests: int, interval: timedelta) -> bool:
        with self.lock:
            self.requests += 1
            clock = time.monotonic()
            if self.requests < every_requests and clock < self.next_check:
                return False
            self.requests = 0
            self.next_check = clock + interval.total_seconds()
            return True


# One gate per engine, so each app (and each test's app) in a process counts alone.
_gates: "weakref.WeakKeyDictionary[Any, _ProcessGate]" = weakref.WeakKeyDictionary()
_gates_lock = threading.Lock()


def _gate(engine: Any) -> _ProcessGate:
    with _gates_lock:
        gate = _gates.get(engine)
        if gate is None:
            gate = _gates[engine] = _ProcessGate()
        return gate


def maybe_prune(
    session: Session, bounds: Bounds, now: datetime | None = None, engine: Any = None
) -> Pruned | None:
    """Prune when due, in a transaction of its own; return what went, or None when not due.

    A process looks at most once per ``bounds.every_requests`` requests or per
    interval, whichever comes first, and costs nothing in between. When it
    looks, the prune time kept in the settings decides: the row is locked
    (SKIP LOCKED on PostgreSQL, the write lock on SQLite), so of several
    instances only one prunes per interval. Call it with no transaction open;
    engine, when given, saves looking up the session's.
    """
    if not _gate(engine or session.get_bind()).due(bounds.every_requests, bounds.interval):
        return None
    now = now or utcnow()
    try:
        begin_write(session)
        row = session.scalar(
            select(Setting).where(Setting.key == PRUNED_AT).with_for_update(skip_locked=True)
        )
        if row is None and session.get(Setting, PRUNED_AT) is not None:
            session.rollback()  # another instance holds it: it is pruning now
            return None
        last = _parse(row.value) if row is not None else None
        if last is not None and now - last < bounds.interval:
            session.rollback()
            return None
        pruned = prune_all(session, bounds, now)
        session.commit()
    except IntegrityError:
        session.rollback()  # two first prunes raced to create the setting; one won
        return None
    except Exception:
        session.rollback()
        raise
    return pruned


def last_pruned(session: Session) -> datetime | None:
    """Return when the log was last pruned, or None."""
    value = session.scalar(select(Setting.value).where(Setting.key == PRUNED_AT))
    return _parse(value)


def _put_pruned_at(session: Session, now: datetime) -> None:
    row = session.get(Setting, PRUNED_AT)
    if row is None:
        session.add(Setting(key=PRUNED_AT, value=now.isoformat()))
    else:
        row.value = now.isoformat()
    session.flush()


def _parse(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
