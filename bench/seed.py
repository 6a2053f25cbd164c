"""Write users, groups and memberships straight into the database, for the micro phases.

Sending 100,000 creates through HTTP takes most of an hour on two cores; the
scale phases only need the rows to be there. The rows are what
store.resources.new_user_rows and create_group write, column for column.
"""

import uuid
from datetime import UTC
from datetime import datetime

from sqlalchemy import create_engine
from sqlalchemy import insert

from unleash_wizard.store.models import Group
from unleash_wizard.store.models import Membership
from unleash_wizard.store.models import User
from unleash_wizard.store.models import UserEmail
from unleash_wizard.store.resources import new_user_rows

from .workload import group_body
from .workload import user_body

CHUNK = 5000


def seed_users(db_url: str, indexes: range) -> list[str]:
    """Insert the users of indexes as SCIM-managed users; return their ids in order."""
    engine = create_engine(db_url)
    ids = [str(uuid.uuid4()) for _ in indexes]
    try:
        for offset in range(0, len(indexes), CHUNK):
            users, emails = [], []
            for k in range(offset, min(offset + CHUNK, len(indexes))):
                data = user_body(indexes[k])
                data.pop("schemas")
                row, email_rows = new_user_rows(ids[k], data, datetime.now(UTC))
                users.append(row)
                emails.extend(email_rows)
            with engine.begin() as connection:
                connection.execute(insert(User), users)
                connection.execute(insert(UserEmail), emails)
    finally:
        engine.dispose()
    return ids


def seed_groups(db_url: str, indexes: range, members: dict[int, list[str]]) -> list[str]:
    """Insert the groups of indexes with the given members; return their ids in order."""
    engine = create_engine(db_url)
    ids = [str(uuid.uuid4()) for _ in indexes]
    now = datetime.now(UTC)
    try:
        with engine.begin() as connection:
            rows = []
            for k, index in enumerate(indexes):
                data = group_body(index)
                data.pop("schemas")
                rows.append(
                    {
                        "id": ids[k],
                        "display_name": data["displayName"],
                        "display_name_key": data["displayName"].lower(),
                        "external_id": data["externalId"],
                        "scim_managed": True,
                        "data": data,
                        "created_at": now,
                        "modified_at": now,
                        "version": 1,
                    }
                )
            connection.execute(insert(Group), rows)
            pairs = [
                {"group_id": ids[k], "user_id": uid}
                for k, index in enumerate(indexes)
                for uid in members.get(index, [])
            ]
            for offset in range(0, len(pairs), CHUNK):
                connection.execute(insert(Membership), pairs[offset : offset + CHUNK])
    finally:
        engine.dispose()
    return ids
