r"""Fast JSON parsing that reads every text exactly as the stdlib does (used by the sync for API page
bodies and by the database engines for JSON columns).

orjson parses several times faster than ``json.loads``, but not always to the same value: it refuses
NaN, infinities and lone surrogates (then the stdlib parses them), and it reads an integer beyond 64
bits as a *float*, silently (1180591620717411303424 -> 1.1805916207174113e+21). A text that may hold
such a number, a run of 19 or more ASCII digits where a number's digits can start (at the start of
the text, or after one of ``-:[,.`` or whitespace), is therefore parsed by the stdlib. A run inside a
string after a letter (a hex ID: ``"7ff7337229354987982936..."``) does not count: nearly every page of
1,000 servers holds one, and counting them sent every such page to the stdlib (23 s of a 100,000-
instance full sync). Exponent digits are not checked: orjson reads a long exponent as the stdlib does,
or refuses it (infinity), and then the stdlib parses it. Deciding is C-speed passes over the bytes
(mapped to ``0`` for a digit, ``p`` for a byte a number's digits may follow, a space otherwise, then a
substring search): ~6 us for a 2 KB server object, where a regex search took ~75 us, three times
orjson's parse itself. JSON numbers are ASCII, so only ASCII digits count (a UTF-8 byte of any other
character is never one).
"""

from __future__ import annotations

import json
from typing import Any

import orjson

_BEFORE_DIGITS = b"-:[,. \t\r\n"
_NUMBER_SHAPE = bytes(0x30 if 0x30 <= i <= 0x39 else 0x70 if i in _BEFORE_DIGITS else 0x20 for i in range(256))
_LONG_RUN = b"0" * 19  # 2**63 has 19 digits: any integer orjson reads exactly has fewer
_LONG_NUMBER = b"p" + _LONG_RUN


def may_hold_long_number(text: str | bytes | bytearray) -> bool:
    """``text`` holds a run of 19 or more ASCII digits at the start or after a byte that may precede a
    JSON number's digits (``-:[,.`` or whitespace): where an integer beyond 64 bits or a long fraction
    could be."""
    data = text.encode("utf-8", "surrogatepass") if isinstance(text, str) else text
    shape = data.translate(_NUMBER_SHAPE)
    return _LONG_NUMBER in shape or shape.startswith(_LONG_RUN)


def loads(text: str | bytes | bytearray) -> Any:
    """``json.loads(text)``'s value, through orjson where that is the same."""
    if not may_hold_long_number(text):
        try:
            return orjson.loads(text)
        except orjson.JSONDecodeError:
            pass
    return json.loads(text)
