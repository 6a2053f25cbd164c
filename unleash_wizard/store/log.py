"""The provisioning log: one row per /scim/v2 request, nothing secret in it."""

from datetime import timedelta
from typing import Any

from sqlalchemy import delete
from sqlalchemy import func
from sqlalchemy import select
from sqlalchemy.orm import Session

from .models import ProvisioningLog
from .models import utcnow


def record(session: Session, **fields: Any) -> ProvisioningLog:
    """Add a log row (the caller commits)."""
    row = ProvisioningLog(**fields)
    session.add(row)
    return row


def recent(session: Session, limit: int = 50) -> list[ProvisioningLog]:
    """Return the latest rows, newest first."""
    query = select(ProvisioningLog).order_by(ProvisioningLog.id.desc()).limit(limit)
    return list(session.scalars(query))


def prune(session: Session, max_rows: int, max_age_days: int) -> int:
    """Delete rows older than max_age_days or beyond the newest max_rows; return how many."""
    cutoff = utcnow() - timedelta(days=max_age_days)
    removed = session.execute(delete(ProvisioningLog).where(ProvisioningLog.at < cutoff)).rowcount
    newest = session.scalar(
        select(ProvisioningLog.id).order_by(ProvisioningLog.id.desc()).offset(max_rows).limit(1)
    )
    if newest is not None:
        removed += session.execute(
            delete(ProvisioningLog).where(ProvisioningLog.id <= newest)
        ).rowcount
    return removed or 0


def count(session: Session) -> int:
    """Return the number of rows."""
    return session.scalar(select(func.count(ProvisioningLog.id))) or 0
