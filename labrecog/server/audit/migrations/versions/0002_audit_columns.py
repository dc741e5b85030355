"""The audit trail: who ordered, in which department, and the verified caller, on every
issued card and feedback row; indexes for the date ranges ``labrecog audit`` reads.

All new columns may be empty: rows written before this revision, calls in the insecure
mode (no caller), an Encounter without ``serviceType`` (no department).

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

COLUMNS = (
    "user_id",  # the hook's context.userId, e.g. PractitionerRole/PR-LZU2-ENDO-07
    "department",  # the Encounter's serviceType
    "caller_issuer",  # the verified JWT's iss
    "caller_subject",  # sub
    "caller_tenant",  # tenant
    "caller_jti",  # jti
)


def upgrade() -> None:
    for table in ("cds_card", "cds_feedback"):
        for name in COLUMNS:
            op.add_column(table, sa.Column(name, sa.Text, nullable=True))
    op.create_index("cds_card_issued", "cds_card", ["issued_at"])
    op.create_index("cds_feedback_received", "cds_feedback", ["received_at"])


def downgrade() -> None:
    op.drop_index("cds_feedback_received", table_name="cds_feedback")
    op.drop_index("cds_card_issued", table_name="cds_card")
    # ALTER TABLE ... DROP COLUMN: SQLite 3.35 or later (Python 3.11's own is newer)
    for table in ("cds_card", "cds_feedback"):
        for name in reversed(COLUMNS):
            op.drop_column(table, name)
