"""JSON for view documents and stored events, via orjson.

The views decode every stored event and re-encode each changed ticket per
batch; the standard library's json costs four times as much and was most of
a rebuild's time. Output is canonical (sorted keys, compact, UTF-8), the same
bytes `domain.persistence.canonical_json` gives for these documents.
orjson reads integers beyond 64 bits as floats: no event field comes near
that (the stores' integer columns hold 64 bits too).
"""

from __future__ import annotations

from typing import Any

import orjson
from opsledger.domain.persistence import canonical_json

_SORTED = orjson.OPT_SORT_KEYS


def dumps(document: Any) -> str:
    try:
        return orjson.dumps(document, option=_SORTED).decode("utf-8")
    except (orjson.JSONEncodeError, TypeError):
        # Integers beyond 64 bits: the standard encoder writes them exactly.
        return canonical_json(document).decode("utf-8")


def loads(text: str | bytes) -> Any:
    return orjson.loads(text)


DecodeError = orjson.JSONDecodeError
