"""provisioning log indexes for the log page filters

The log page filters by status class, method, resource and time, newest first.
Status and time had indexes already; these cover method and resource, with the
time second so a filtered page reads in order from the index.

Revision ID: 9d21bb4782b5
Revises: 2bf729c78852
Create Date: 2026-11-30 12:23:49.499607

"""

from alembic import op

# revision identifiers, used by Alembic.
revision = "9d21bb4782b5"
down_revision = "2bf729c78852"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("provisioning_log", schema=None) as batch_op:
        batch_op.create_index("ix_provisioning_log_method_at", ["method", "at"], unique=False)
        batch_op.create_index(
            "ix_provisioning_log_resource_type_at", ["resource_type", "at"], unique=False
        )


def downgrade():
    with op.batch_alter_table("provisioning_log", schema=None) as batch_op:
        batch_op.drop_index("ix_provisioning_log_resource_type_at")
        batch_op.drop_index("ix_provisioning_log_method_at")
