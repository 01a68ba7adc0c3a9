"""The stored JSON form (app/db/engine.py canonical_json) and the sync's page parsing
(app/cloud/connection.py): orjson where it can, the stdlib's form and parser where it cannot, the same
text for the same object either way."""

from __future__ import annotations

import enum
import json
import re
import uuid
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

import pytest
import requests
from hypothesis import example, given
from hypothesis import strategies as st

from app.cloud.connection import _json_body
from app.db.engine import Database, PreSerialized, canonical_json
from app.jsonio import may_hold_long_number
from app.jsonio import loads as json_loads


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
    # orjson would read an integer beyond 64 bits as a float, silently: the stdlib reads it exactly
    assert _json_body(_response(b'{"max_unit": 1180591620717411303424}')) == {"max_unit": 2**70}
    with pytest.raises(requests.exceptions.JSONDecodeError):
        _json_body(_response(b"<html>not json</html>"))


FLOATISH = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=20,
)


@given(FLOATISH)
def test_stored_json_reads_back_as_the_stdlib_parser_reads_it(obj: Any) -> None:
    """json_loads (orjson, the stdlib for what orjson refuses: integers beyond 64 bits, NaN, infinities,
    lone surrogates) returns what json.loads returns for every text canonical_json writes."""
    text = canonical_json(obj)
    assert repr(json_loads(text)) == repr(json.loads(text))


@pytest.mark.parametrize("text", ['{"big": 1180591620717411303424}', '{"r": NaN}', '[Infinity, -Infinity]',
                                  '"\\ud800"', '{"a": 1, "a": 2}'])
def test_what_orjson_refuses_reads_back_through_the_stdlib(text: str) -> None:
    assert repr(json_loads(text)) == repr(json.loads(text))


@given(st.text(alphabet=st.sampled_from("0123456789 ,.-:[e\"af\u0663\ud800x\n"), max_size=60))
@example("1" * 18)
@example("1" * 19)
@example("[" + "9" * 19 + "]")
@example("-" + "1" * 18 + ".5")
@example("0." + "1" * 19)
@example('"f' + "1" * 19 + '"')
@example("\u0663" * 19)
@example("1" * 9 + "\u0663" + "1" * 9)
@example("\ud800" + "0" * 19)
def test_the_long_number_check_sees_every_run_of_19_digits_where_a_number_can_start(text: str) -> None:
    """The fast check (bytes translated) says exactly what a regex of its rule says, for str, bytes and
    bytearray: 19 ASCII digits at the start or after ``-:[,.`` or whitespace. Runs after a letter (inside
    a hex ID) and runs of other scripts' digits do not count."""
    want = re.search(r"(?:^|[-:\[,. \t\r\n])[0-9]{19}", text) is not None
    assert may_hold_long_number(text) is want
    data = text.encode("utf-8", "surrogatepass")
    assert may_hold_long_number(data) is want and may_hold_long_number(bytearray(data)) is want


_DIGITS = st.text(alphabet="0123456789", min_size=1, max_size=30)
_NUMBER = st.builds(lambda sign, whole, frac, exp: f"{sign}{whole}{frac}{exp}", st.sampled_from(["", "-"]),
                    _DIGITS, st.one_of(st.just(""), _DIGITS.map(lambda d: "." + d)),
                    st.one_of(st.just(""), st.builds(lambda e, s, d: e + s + d, st.sampled_from("eE"),
                                                     st.sampled_from(["", "+", "-"]), _DIGITS)))
_STRING = st.text(alphabet="0123456789abcdef- .", max_size=40).map(lambda t: f'"{t}"')


@given(st.lists(st.one_of(_NUMBER, _STRING), max_size=8), st.sampled_from([",", ", ", ",\n"]))
@example(['"7ff733722935498798293656f586213d"', "1180591620717411303424"], ",")
@example(["0." + "1" * 25, "1e" + "0" * 20 + "5"], ",")
def test_json_texts_with_long_digit_runs_read_as_the_stdlib_reads_them(items: list[str], sep: str) -> None:
    """Numbers with long integer, fraction and exponent parts and strings full of digits: whichever parser
    answers, the value is the stdlib's (orjson where it reads the same, else the stdlib)."""
    text = "[" + sep.join(items) + "]"
    try:
        want = json.loads(text)
    except ValueError:
        return  # not JSON (e.g. a leading zero): nothing to compare
    assert repr(json_loads(text)) == repr(want)
    assert repr(json_loads(text.encode())) == repr(want)


def test_hex_ids_full_of_digits_are_parsed_by_orjson(monkeypatch: pytest.MonkeyPatch) -> None:
    """A page of server objects whose IDs hold 19-digit runs after a letter does not fall back to the
    stdlib (the slow path the fix removed: every big page took it)."""
    page = {"servers": [{"id": f"7ff{i:03d}7337229354987982936", "user_id": "a" + "9" * 25} for i in range(50)]}
    text = json.dumps(page)
    assert not may_hold_long_number(text)
    import app.jsonio as jsonio

    def refuse(_text: Any) -> Any:
        raise AssertionError("the stdlib parsed a text orjson reads exactly")

    monkeypatch.setattr(jsonio.json, "loads", refuse)
    assert json_loads(text) == page


async def test_json_columns_read_back_through_both_engines(tmp_path: Any) -> None:
    """A real SQLite file: a raw value orjson cannot parse (an integer beyond 64 bits) comes back the same
    through the async engines and the read executor."""
    from sqlalchemy import JSON, Column, Integer, MetaData, Table, insert, select

    t = Table("j", MetaData(), Column("id", Integer, primary_key=True), Column("raw", JSON))
    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'j.db'}")
    value = {"big": 2**70, "name": "\u00e9", "ratio": 0.1}
    try:
        async with db.writer() as conn:
            await conn.run_sync(t.metadata.create_all)
            await conn.execute(insert(t), [{"id": 1, "raw": value}])
        assert await db.read(lambda c: c.execute(select(t.c.raw)).scalar_one()) == value
        async with db.reader() as conn:
            assert (await conn.execute(select(t.c.raw))).scalar_one() == value
    finally:
        await db.dispose()
