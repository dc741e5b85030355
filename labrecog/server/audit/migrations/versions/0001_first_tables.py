"""The first store's two tables, as its hand-written DDL made them (labrecog 0.1).

A store made by that DDL has these tables and no version table: it is stamped with this
revision on open (``_migrate.adopt_first_store``) and upgraded from here.

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "cds_card",
        sa.Column("card_uuid", sa.Text, primary_key=True),
        sa.Column("service_id", sa.Text, nullable=False),
        sa.Column("hook_instance", sa.Text, nullable=False),
        sa.Column("order_id", sa.Text, nullable=False),
        sa.Column("item_code", sa.Text, nullable=False),
        sa.Column("status", sa.Text, nullable=False),
        sa.Column("service_request", sa.Text, nullable=False),
        sa.Column("observations", sa.Text, nullable=False),
        sa.Column("suggestion_uuid", sa.Text),
        sa.Column("ruleset", sa.Text, nullable=False),
        sa.Column("ruleset_digest", sa.Text, nullable=False),
        sa.Column("issued_at", sa.Text, nullable=False),
    )
    op.create_table(
        "cds_feedback",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            primary_key=True,
            autoincrement=True,
        ),
        sa.Column("received_at", sa.Text, nullable=False),
        sa.Column("service_id", sa.Text, nullable=False),
        sa.Column("card_uuid", sa.Text, nullable=False),
        sa.Column("order_id", sa.Text),
        sa.Column("item_code", sa.Text),
        sa.Column("outcome", sa.Text, nullable=False),
        sa.Column("accepted_suggestions", sa.Text, nullable=False),
        sa.Column("override_system", sa.Text),
        sa.Column("override_code", sa.Text),
        sa.Column("override_display", sa.Text),
        sa.Column("user_comment", sa.Text),
        sa.Column("outcome_timestamp", sa.Text, nullable=False),
        sa.CheckConstraint("outcome IN ('accepted', 'overridden')", name="cds_feedback_outcome"),
        sqlite_autoincrement=True,
    )
    op.create_index("cds_feedback_card", "cds_feedback", ["card_uuid"])
    op.create_index("cds_card_order", "cds_card", ["order_id"])


def downgrade() -> None:
    op.drop_index("cds_card_order", table_name="cds_card")
    op.drop_index("cds_feedback_card", table_name="cds_feedback")
    op.drop_table("cds_feedback")
    op.drop_table("cds_card")
