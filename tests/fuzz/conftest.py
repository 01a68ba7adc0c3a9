"""The tool tests' session fleet (400 instances synced once), shared with the fuzz suite."""

from tests.tools.conftest import synced  # noqa: F401
