"""screen recordings: a study option, one recording per session, the database's own id (issue 22)

Revision ID: 0006_i22
Revises: 0005_i24
Create Date: 2026-12-06
"""

import sqlalchemy as sa
from alembic import op

revision = "0006_i22"
down_revision = "0005_i24"
branch_labels = None
depends_on = None

ID = 43


def upgrade() -> None:
    op.create_table(
        "meta",
        sa.Column("name", sa.String(32), primary_key=True),
        sa.Column("value", sa.String(64), nullable=False),
    )
    with op.batch_alter_table("studies") as batch:
        batch.add_column(sa.Column("screen", sa.Boolean, nullable=False, server_default=sa.false()))
    op.create_table(
        "screen_recordings",
        sa.Column("session_id", sa.String(ID), sa.ForeignKey("sessions.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("store", sa.String(ID), nullable=False),
        sa.Column("status", sa.String(12), nullable=False),
        sa.Column("started", sa.Float, nullable=False),
        sa.Column("offset_s", sa.Float),
        sa.Column("chunks", sa.Integer, nullable=False, server_default="0"),
        sa.Column("bytes", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("expected", sa.Integer),
        sa.Column("last_chunk", sa.Float),
        sa.Column("ended", sa.Float),
        sa.Column("stop_reason", sa.String(32)),
        sa.Column("finalizing_since", sa.Float),
        sa.Column("duration_s", sa.Float),
        sa.Column("size", sa.BigInteger),
        sa.Column("missing", sa.Integer),
        sa.Column("error", sa.Text),
    )


def downgrade() -> None:
    op.drop_table("screen_recordings")
    op.drop_table("meta")
    with op.batch_alter_table("studies") as batch:
        batch.drop_column("screen")
