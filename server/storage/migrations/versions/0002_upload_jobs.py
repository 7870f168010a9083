"""jobs: the queue of recorded-media uploads (server/uploads/), shared by every server replica

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

ID = 43


def upgrade() -> None:
    op.create_table(
        "jobs",
        sa.Column("id", sa.String(ID), primary_key=True),
        sa.Column("store", sa.String(ID), nullable=False),
        sa.Column("status", sa.String(12), nullable=False),
        sa.Column("owner", sa.String(ID)),
        sa.Column("heartbeat", sa.Float),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("filename", sa.String(255), nullable=False),
        sa.Column("kind", sa.String(8), nullable=False),
        sa.Column("input", sa.String(64)),
        sa.Column("output", sa.String(64)),
        sa.Column("size", sa.BigInteger, nullable=False),
        sa.Column("client", sa.String(64)),
        sa.Column("delete_hash", sa.String(64), nullable=False),
        sa.Column("created", sa.Float, nullable=False),
        sa.Column("started", sa.Float),
        sa.Column("finished", sa.Float),
        sa.Column("frames_done", sa.Integer, nullable=False),
        sa.Column("frames_total", sa.Integer, nullable=False),
        sa.Column("error", sa.Text),
        sa.Column("summary", sa.JSON),
        sa.Column("session_id", sa.String(ID), sa.ForeignKey("sessions.id", ondelete="CASCADE")),
        sa.Column("recording_start", sa.Float),
    )
    op.create_index("ix_jobs_session_id", "jobs", ["session_id"])
    op.create_index("ix_jobs_queue", "jobs", ["store", "status", "created"])


def downgrade() -> None:
    op.drop_table("jobs")
