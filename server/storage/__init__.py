"""The storage: one database (SQLite by default, PostgreSQL for deployments) shared by studies and uploads.

    db.py            the database: URL, async engine, migrations at start-up, space reclaimed after deletes
    models.py        the tables (SQLAlchemy Core): studies, sessions, markers, notes, results, jobs
    migrations/      Alembic's environment and revisions (alembic.ini beside them)

Nothing here imports the rest of the server: ``server.studies`` and ``server.uploads`` build on it.
"""
