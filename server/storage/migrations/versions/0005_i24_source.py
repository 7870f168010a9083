"""results.source: whether each face's row was detected in its frame, held or interpolated (ml.schema)

Revision ID: 0005_i24
Revises: 0004_i21
Create Date: 2026-11-28

Rows stored before it have no source (NULL: exported as an empty cell, and counted as a face found,
as every row was before: ``server/studies/definitions.py``).
"""

import sqlalchemy as sa
from alembic import op

revision = "0005_i24"
down_revision = "0004_i21"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("results", sa.Column("source", sa.String(12)))


def downgrade() -> None:
    with op.batch_alter_table("results") as batch:
        batch.drop_column("source")
