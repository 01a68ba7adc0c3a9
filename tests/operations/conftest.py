from tests.operations.helpers import fleet  # noqa: F401  (fixture)
