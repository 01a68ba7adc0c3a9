"""The stored JSON form (app/db/engine.py canonical_json) and the sync's page parsing
(app/cloud/connection.py): orjson where it can, the stdlib's form and parser where it cannot, the same
text for the same object either way."""

from __future__ import annotations

import enum
import json
import uuid
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

import pytest
import requests
from hypothesis import given
from hypothesis import strategies as st

from app.cloud.connection import _json_body
from app.db.engine import PreSerialized, canonical_json


def stdlib(obj: Any) -> str:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


class Colour(str, enum.Enum):
    RED = "red"


@dataclass
class Point:
    x: int


JSONISH = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=20,
)


@given(JSONISH)
def test_the_same_text_as_the_stdlib_form_for_json_values(obj: Any) -> None:
    """Every value an API returns (floats aside, below): strings with any characters, keys sorted."""
    assert canonical_json(obj) == stdlib(obj)


@pytest.mark.parametrize("obj", [
    {"at": datetime(2026, 1, 1, 12, 0, 0, 5)},  # through str(), not orjson's RFC 3339 form
    {"d": Decimal("1.50")}, {"u": uuid.UUID(int=7)}, {"c": Colour.RED}, {"p": Point(1)},
    {1: "int key"}, {"big": 2**70},  # orjson refuses these: the stdlib writes them
    {"b": [1.5, 0.1, 16.0, -0.0]},
], ids=["datetime", "decimal", "uuid", "enum", "dataclass", "int-key", "big-int", "floats"])
def test_the_stdlib_form_for_what_orjson_writes_otherwise_or_refuses(obj: Any) -> None:
    assert canonical_json(obj) == stdlib(obj)


def test_exponent_floats_read_back_equal_and_preserialized_text_passes_through() -> None:
    """orjson writes 1e16 where the stdlib wrote 1e+16: the same number, and a stored row written the
    old way is rewritten once (its columns equal, so the change log records nothing)."""
    obj = {"tiny": 2e-07, "huge": 1e16}
    assert json.loads(canonical_json(obj)) == obj
    assert canonical_json(PreSerialized('{"kept":"as is"}')) == '{"kept":"as is"}'


def _response(body: bytes) -> requests.Response:
    r = requests.Response()
    r._content = body
    r.status_code = 200
    r.encoding = "utf-8"
    return r


def test_page_bodies_parse_with_orjson_and_fall_back_to_the_stdlib_parser() -> None:
    assert _json_body(_response(b'{"servers":[{"id":"a","name":"\\u00e9"}]}')) == {"servers": [{"id": "a", "name": "é"}]}
    # NaN is not JSON but Python services send it: orjson refuses it, requests' parser reads it
    got = _json_body(_response(b'{"ratio": NaN, "n": 1}'))
    assert got["n"] == 1 and got["ratio"] != got["ratio"]
    with pytest.raises(requests.exceptions.JSONDecodeError):
        _json_body(_response(b"<html>not json</html>"))
