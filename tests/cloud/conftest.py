"""Same fixtures as tests/sync (a migrated SQLite copy, the sync stack bound to a simulator)."""

from tests.sync.conftest import db_url, make_stack, migrated_template  # noqa: F401
