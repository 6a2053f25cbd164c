"""GET /healthz for load balancers: no auth, no secrets, just whether the database answers."""

from flask import Blueprint
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from .extensions import db

bp = Blueprint("health", __name__)

NO_STORE = {"Cache-Control": "no-store"}


@bp.get("/healthz")
def healthz():
    """Answer 200 when the database runs a query, 503 when it does not."""
    try:
        db.session.execute(text("SELECT 1"))
    except SQLAlchemyError:
        try:
            db.session.rollback()
        except SQLAlchemyError:
            pass
        return {"status": "unavailable"}, 503, NO_STORE
    return {"status": "ok"}, 200, NO_STORE
