"""Reading Prometheus HTTP API responses (``query_range`` matrices, ``query`` vectors).

The caller opens the file and passes bytes or a binary stream with a source name; gzip is
recognised by its magic bytes. The JSON document is decoded whole (the standard library
has no incremental JSON parser), then converted one result entry at a time, releasing
each entry as it goes, so peak memory stays near the size of the decoded document.

Any fault raises ``ExportError`` naming the source and a position such as
``data.result[3].values[17]`` or ``decompressed byte 2048``.
"""

from __future__ import annotations

from collections.abc import Iterator
from operator import gt, itemgetter
from typing import Any

from opsledger.domain.sla.errors import ExportError
from opsledger.domain.sla.payload import Payload, load_json
from opsledger.domain.sla.series import Labels, Series

# datetime can represent Unix times from 1970 up to the end of year 9999.
_MIN_TS = 0.0
_MAX_TS = 253_402_300_799.0
_NUMBER_TYPES = {int, float}
_VALUE_TYPES = {str, int, float}
_first = itemgetter(0)
_second = itemgetter(1)


def read_prometheus(data: Payload, source: str, *, metric: str | None = None) -> list[Series]:
    """All series of one response. ``metric`` names results that carry no ``__name__``
    (e.g. ``histogram_quantile`` output)."""
    return list(iter_prometheus(data, source, metric=metric))


def iter_prometheus(data: Payload, source: str, *, metric: str | None = None) -> Iterator[Series]:
    """The series of one response, one at a time; errors surface while iterating."""
    doc = load_json(data, source)
    result, result_type = _envelope(doc, source)
    result.reverse()  # pop from the end so each converted entry can be freed
    index = 0
    while result:
        yield _series(result.pop(), index, result_type, source, metric)
        index += 1


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _envelope(doc: Any, source: str) -> tuple[list[Any], str]:
    if type(doc) is not dict:
        raise ExportError(source, "document", "expected a Prometheus API response object")
    status = doc.get("status")
    if status == "error":
        raise ExportError(
            source,
            "status",
            f"Prometheus returned an error: {doc.get('errorType')}: {doc.get('error')}",
        )
    if status != "success":
        raise ExportError(source, "status", f'expected "success", got {_short(status)}')
    data = doc.get("data")
    if type(data) is not dict:
        raise ExportError(source, "data", "expected an object")
    result_type = data.get("resultType")
    if result_type not in ("matrix", "vector"):
        raise ExportError(
            source,
            "data.resultType",
            f"unsupported result type {_short(result_type)}; expected matrix or vector",
        )
    result = data.get("result")
    if type(result) is not list:
        raise ExportError(source, "data.result", "expected a list of series")
    return result, result_type


def _series(item: Any, index: int, result_type: str, source: str, hint: str | None) -> Series:
    where = f"data.result[{index}]"
    if type(item) is not dict:
        raise ExportError(source, where, "expected a series object")
    raw_labels = item.get("metric")
    if type(raw_labels) is not dict or not all(
        type(k) is str and type(v) is str for k, v in raw_labels.items()
    ):
        raise ExportError(source, f"{where}.metric", "expected an object of string labels")
    labels: Labels = tuple(sorted((k, v) for k, v in raw_labels.items() if k != "__name__"))
    metric = raw_labels.get("__name__", hint)
    if result_type == "matrix":
        if "histograms" in item:
            raise ExportError(source, f"{where}.histograms", "native histograms are not supported")
        timestamps, values = _samples(item.get("values"), f"{where}.values", source)
    else:
        if "histogram" in item:
            raise ExportError(source, f"{where}.histogram", "native histograms are not supported")
        t, v = _sample(item.get("value"), f"{where}.value", source)
        timestamps, values = [t], [v]
    out_of_order = sum(map(gt, timestamps, timestamps[1:]))
    return Series(source, metric, labels, timestamps, values, out_of_order)


def _samples(pairs: Any, where: str, source: str) -> tuple[list[float], list[float]]:
    if type(pairs) is not list:
        raise ExportError(source, where, "expected a list of [timestamp, value] pairs")
    if not pairs:
        return [], []
    # Whole-list checks run in C; the per-sample loop below only runs to locate a fault.
    if set(map(type, pairs)) == {list} and set(map(len, pairs)) == {2}:
        raw_t = list(map(_first, pairs))
        raw_v = list(map(_second, pairs))
        if set(map(type, raw_t)) <= _NUMBER_TYPES and set(map(type, raw_v)) <= _VALUE_TYPES:
            # Integer timestamps stay ints: they compare, hash and subtract like the
            # equal floats, and converting them is a measurable share of the read.
            if _MIN_TS <= min(raw_t) and max(raw_t) <= _MAX_TS:
                try:
                    return raw_t, list(map(float, raw_v))
                except ValueError:
                    pass
    for k, pair in enumerate(pairs):
        _sample(pair, f"{where}[{k}]", source)
    raise AssertionError("unreachable: a faulty sample was not located")  # pragma: no cover


def _sample(pair: Any, where: str, source: str) -> tuple[float, float]:
    if type(pair) is not list or len(pair) != 2:
        raise ExportError(source, where, f"expected [timestamp, value], got {_short(pair)}")
    raw_t, raw_v = pair
    if type(raw_t) not in _NUMBER_TYPES:
        raise ExportError(source, where, f"timestamp {_short(raw_t)} is not a number")
    try:
        t = float(raw_t)
    except OverflowError:
        t = float("inf")
    if not _MIN_TS <= t <= _MAX_TS:
        raise ExportError(source, where, f"timestamp {_short(raw_t)} is out of range")
    if type(raw_v) not in _VALUE_TYPES:
        raise ExportError(source, where, f"value {_short(raw_v)} is not a number")
    try:
        v = float(raw_v)
    except (ValueError, OverflowError):
        raise ExportError(source, where, f"value {_short(raw_v)} is not a number") from None
    return t, v
