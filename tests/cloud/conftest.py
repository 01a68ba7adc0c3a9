"""Same fixtures as tests/sync (the sync stack bound to a simulator; ``db_url`` comes from tests/conftest.py)."""

from tests.sync.conftest import make_stack  # noqa: F401
