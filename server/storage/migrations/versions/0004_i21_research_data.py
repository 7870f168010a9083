"""research-grade study data: the participant's face in each row, session status and camera check, kept
figures, the study's lifecycle and quality thresholds, named researcher tokens and their logins

Revision ID: 0004_i21
Revises: 0003
Create Date: 2026-11-28

Rows stored before this revision have no participant: the first face row of each frame (the
largest face, which the pages showed as the main face) becomes the participant's, the other
faces of that frame someone else's.
"""

import sqlalchemy as sa
from alembic import op

revision = "0004_i21"
down_revision = "0003"
branch_labels = None
depends_on = None

ID = 43
NAME = 64
BATCH = 5000


def upgrade() -> None:
    with op.batch_alter_table("studies") as t:
        t.add_column(sa.Column("closed", sa.Float))
        t.add_column(sa.Column("max_sessions", sa.Integer))
        t.add_column(sa.Column("retention_days", sa.Float))
        t.add_column(sa.Column("check_required", sa.Boolean, nullable=False, server_default=sa.false()))
        t.add_column(sa.Column("quality", sa.JSON))
    with op.batch_alter_table("sessions") as t:
        t.add_column(sa.Column("status", sa.String(12)))
        t.add_column(sa.Column("check_status", sa.String(8)))
        t.add_column(sa.Column("check_s", sa.Float))
        t.add_column(sa.Column("figures", sa.JSON))
    with op.batch_alter_table("results") as t:
        t.add_column(sa.Column("participant", sa.Boolean, nullable=False, server_default=sa.true()))
        t.add_column(sa.Column("brightness", sa.Float))
    op.create_table(
        "researchers",
        sa.Column("name", sa.String(NAME), primary_key=True),
        sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("created", sa.Float, nullable=False),
    )
    op.create_table(
        "logins",
        sa.Column("id_hash", sa.String(64), primary_key=True),
        sa.Column("token_hash", sa.String(64), nullable=False),
        sa.Column("name", sa.String(NAME), nullable=False),
        sa.Column("created", sa.Float, nullable=False),
        sa.Column("expires", sa.Float, nullable=False),
    )
    _older_sessions()


def _older_sessions() -> None:
    """Earlier rows: in each frame with several faces, the faces after the first are someone else's;
    sessions that ended are completed if their last task was done, else incomplete."""
    conn = op.get_bind()
    results = sa.table("results", sa.column("id"), sa.column("session_id"), sa.column("frame"),
                       sa.column("time_s"), sa.column("file"), sa.column("face"), sa.column("participant"))
    query = (sa.select(results.c.id, results.c.session_id, results.c.frame, results.c.time_s, results.c.file)
             .where(results.c.face.is_not(None)).order_by(results.c.session_id, results.c.id))
    others, last = [], None
    for row in conn.execute(query):
        key = (row.session_id, row.frame, row.time_s, row.file)
        if key == last:
            others.append(row.id)
        last = key
        if len(others) >= BATCH:
            conn.execute(results.update().where(results.c.id.in_(others)).values(participant=False))
            others = []
    if others:
        conn.execute(results.update().where(results.c.id.in_(others)).values(participant=False))

    sessions = sa.table("sessions", sa.column("id"), sa.column("study_id"), sa.column("ended"), sa.column("status"))
    studies = sa.table("studies", sa.column("id"), sa.column("tasks", sa.JSON))
    markers = sa.table("markers", sa.column("session_id"), sa.column("task"), sa.column("event"))
    last_task = {r.id: len(r.tasks) - 1 for r in conn.execute(sa.select(studies.c.id, studies.c.tasks))}
    done = {(r.session_id, r.task) for r in conn.execute(
        sa.select(markers.c.session_id, markers.c.task).where(markers.c.event == "end"))}
    for s in conn.execute(sa.select(sessions.c.id, sessions.c.study_id).where(sessions.c.ended.is_not(None))).all():
        status = "completed" if (s.id, last_task.get(s.study_id)) in done else "incomplete"
        conn.execute(sessions.update().where(sessions.c.id == s.id).values(status=status))


def downgrade() -> None:
    op.drop_table("logins")
    op.drop_table("researchers")
    with op.batch_alter_table("results") as t:
        t.drop_column("brightness")
        t.drop_column("participant")
    with op.batch_alter_table("sessions") as t:
        for name in ("figures", "check_s", "check_status", "status"):
            t.drop_column(name)
    with op.batch_alter_table("studies") as t:
        for name in ("quality", "check_required", "retention_days", "max_sessions", "closed"):
            t.drop_column(name)
