"""notes: the researcher's notes on a live session (observer view)

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-26
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

ID = 43


def upgrade() -> None:
    op.create_table(
        "notes",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("session_id", sa.String(ID), sa.ForeignKey("sessions.id", ondelete="CASCADE"), nullable=False),
        sa.Column("time_s", sa.Float, nullable=False),
        sa.Column("utc", sa.String(24), nullable=False),
        sa.Column("text", sa.Text, nullable=False),
    )
    op.create_index("ix_notes_session_id", "notes", ["session_id"])


def downgrade() -> None:
    op.drop_table("notes")
