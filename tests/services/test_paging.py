"""page_total: the total from the page itself when it can tell, else the count."""

from __future__ import annotations

import pytest
from sqlalchemy import create_engine, literal, select

from app.services.paging import page_total


@pytest.mark.parametrize(("returned", "limit", "offset", "want"), [
    (3, 50, 0, 3),     # a short first page: all there is
    (3, 50, 100, 103),  # a short later page
    (0, 50, 0, 0),     # nothing at all
    (50, 50, 0, 7),    # a full page: more may follow, counted
    (0, 50, 100, 7),   # past the end: counted
])
def test_page_total(returned: int, limit: int, offset: int, want: int) -> None:
    with create_engine("sqlite://").connect() as conn:
        assert page_total(conn, select(literal(7)), returned, limit, offset) == want
