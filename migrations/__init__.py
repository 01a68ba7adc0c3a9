"""Alembic migrations for the snapshot schema (an importable package so that ``app.db.migrate``
finds it after a non-editable install)."""
