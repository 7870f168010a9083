"""studies, sessions, markers and results (the app's one row schema plus session and task)

Revision ID: 0001
Revises:
Create Date: 2026-11-26
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

ID = 43
CLASSES = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")  # ml.CLASSES as of this revision


def upgrade() -> None:
    op.create_table(
        "studies",
        sa.Column("id", sa.String(ID), primary_key=True),
        sa.Column("participant_token", sa.String(ID), nullable=False, unique=True),
        sa.Column("title", sa.String(200), nullable=False),
        sa.Column("consent", sa.Text, nullable=False),
        sa.Column("tasks", sa.JSON, nullable=False),
        sa.Column("feedback", sa.Boolean, nullable=False),
        sa.Column("created", sa.Float, nullable=False),
    )
    op.create_table(
        "sessions",
        sa.Column("id", sa.String(ID), primary_key=True),
        sa.Column("study_id", sa.String(ID), sa.ForeignKey("studies.id", ondelete="CASCADE"), nullable=False),
        sa.Column("started", sa.Float, nullable=False),
        sa.Column("ended", sa.Float),
        sa.Column("frames", sa.Integer, nullable=False, server_default="0"),
    )
    op.create_index("ix_sessions_study_id", "sessions", ["study_id"])
    op.create_table(
        "markers",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("session_id", sa.String(ID), sa.ForeignKey("sessions.id", ondelete="CASCADE"), nullable=False),
        sa.Column("task", sa.Integer, nullable=False),
        sa.Column("event", sa.String(8), nullable=False),
        sa.Column("time_s", sa.Float, nullable=False),
        sa.Column("utc", sa.String(24), nullable=False),
    )
    op.create_index("ix_markers_session_id", "markers", ["session_id"])
    op.create_table(
        "results",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True, autoincrement=True),
        sa.Column("session_id", sa.String(ID), sa.ForeignKey("sessions.id", ondelete="CASCADE"), nullable=False),
        sa.Column("task", sa.Integer),
        sa.Column("frame", sa.Integer, nullable=False),
        sa.Column("time_s", sa.Float, nullable=False),
        sa.Column("utc", sa.String(24)),
        sa.Column("face", sa.Integer),
        sa.Column("x", sa.Integer),
        sa.Column("y", sa.Integer),
        sa.Column("w", sa.Integer),
        sa.Column("h", sa.Integer),
        sa.Column("label", sa.String(16)),
        sa.Column("confidence", sa.Float),
        *(sa.Column(c, sa.Float) for c in CLASSES),
        sa.Column("file", sa.String(255)),
    )
    op.create_index("ix_results_session_id", "results", ["session_id", "id"])


def downgrade() -> None:
    op.drop_table("results")
    op.drop_table("markers")
    op.drop_table("sessions")
    op.drop_table("studies")
