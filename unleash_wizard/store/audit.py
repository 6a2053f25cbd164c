"""The audit trail of admin actions: SCIM switched on or off, tokens created or revoked."""

from sqlalchemy import select
from sqlalchemy.orm import Session

from .models import AuditEvent


def record(session: Session, actor: str, action: str, detail: str | None = None) -> AuditEvent:
    """Add an audit event and return it (the caller commits); detail never holds a secret."""
    event = AuditEvent(actor=actor, action=action, detail=detail)
    session.add(event)
    return event


def recent(session: Session, limit: int = 50) -> list[AuditEvent]:
    """Return the latest audit events, newest first."""
    query = select(AuditEvent).order_by(AuditEvent.at.desc(), AuditEvent.id.desc()).limit(limit)
    return list(session.scalars(query))
