"""The audit trail of admin actions: SCIM switched on or off, tokens created or revoked."""

from datetime import datetime
from datetime import timedelta

from sqlalchemy import delete
from sqlalchemy import func
from sqlalchemy import select
from sqlalchemy.orm import Session

from .directory import Listing
from .models import AuditEvent
from .models import utcnow

PER_PAGE = 50


def record(session: Session, actor: str, action: str, detail: str | None = None) -> AuditEvent:
    """Add an audit event and return it (the caller commits); detail never holds a secret."""
    event = AuditEvent(actor=actor, action=action, detail=detail)
    session.add(event)
    return event


def recent(session: Session, limit: int = 50) -> list[AuditEvent]:
    """Return the latest audit events, newest first."""
    query = select(AuditEvent).order_by(AuditEvent.at.desc(), AuditEvent.id.desc()).limit(limit)
    return list(session.scalars(query))


def page_of(session: Session, page: int = 1, per_page: int = PER_PAGE) -> Listing:
    """Return one page of audit events, newest first (past the end: the last page)."""
    total = session.scalar(select(func.count(AuditEvent.id))) or 0
    pages = max(1, -(-total // per_page))
    page = min(max(1, page), pages)
    query = (
        select(AuditEvent)
        .order_by(AuditEvent.at.desc(), AuditEvent.id.desc())
        .offset((page - 1) * per_page)
        .limit(per_page)
    )
    return Listing(list(session.scalars(query)), total, page, per_page)


def prune(session: Session, max_age_days: int, now: datetime | None = None) -> int:
    """Delete events older than max_age_days (a range on the index on ``at``); return how many."""
    cutoff = (now or utcnow()) - timedelta(days=max_age_days)
    return session.execute(delete(AuditEvent).where(AuditEvent.at < cutoff)).rowcount or 0
