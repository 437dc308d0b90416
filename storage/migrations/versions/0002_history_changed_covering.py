"""deal_history: ix_deal_history_changed covers field, deal_id, old and new value

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25 23:30:00
"""

from __future__ import annotations

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

COVERED = ["changed_at", "field", "deal_id", "old_value", "new_value"]


def upgrade() -> None:
    with op.batch_alter_table("deal_history", schema=None) as batch_op:
        batch_op.drop_index("ix_deal_history_changed")
        batch_op.create_index("ix_deal_history_changed", COVERED, unique=False)


def downgrade() -> None:
    with op.batch_alter_table("deal_history", schema=None) as batch_op:
        batch_op.drop_index("ix_deal_history_changed")
        batch_op.create_index("ix_deal_history_changed", ["changed_at"], unique=False)
