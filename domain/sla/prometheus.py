"""Reading Prometheus HTTP API responses (``query_range`` matrices, ``query`` vectors).

The caller opens the file and passes a binary stream (or bytes) with a source name; gzip
is recognised by its magic bytes. The document is read incrementally (``chunks``,
``scanner``): samples go straight from the text into compact arrays (16 bytes a
sample), so memory holds the samples and one chunk of text, never the decoded
document; series that no rule wants can be dropped as they are read (``keep``).

Any fault raises ``ExportError`` naming the source and a position such as
``data.result[3].values[17]`` or ``decompressed byte 2048``.
"""

from __future__ import annotations

import json
import re
from array import array
from collections.abc import Callable, Iterator
from operator import gt
from typing import Any

from opsledger.domain.sla.chunks import Payload, Progress, TextChunks
from opsledger.domain.sla.errors import ExportError
from opsledger.domain.sla.scanner import Scanner
from opsledger.domain.sla.series import Labels, Series, unkeepable
from opsledger.domain.text import UNKEEPABLE_WHY

# datetime can represent Unix times from 1970 up to the end of year 9999.
_MIN_TS = 0.0
_MAX_TS = 253_402_300_799.0
_NUMBER_TYPES = {int, float}
_VALUE_TYPES = {str, int, float}
_WS = "[ \t\r\n]*"
_NUMBER = r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][-+]?[0-9]+)?"
_PAIR = rf'\[{_WS}({_NUMBER}){_WS},{_WS}"([^"\\]*)"{_WS}\]'
# A run of well-formed samples each followed by a comma, found in one C-level match;
# the samples inside it are then picked out by findall.
_RUN = re.compile(rf'{_WS}(?:\[{_WS}{_NUMBER}{_WS},{_WS}"[^"\\]*"{_WS}\]{_WS},{_WS})+')
_PAIRS = re.compile(_PAIR)
_LAST = re.compile(rf"{_WS}{_PAIR}{_WS}\]")
_BLOCK = 1 << 15

Keep = Callable[[str | None, Labels], bool]


def read_prometheus(data: Payload, source: str, *, metric: str | None = None) -> list[Series]:
    """All series of one response. ``metric`` names results that carry no ``__name__``
    (e.g. ``histogram_quantile`` output)."""
    return list(iter_prometheus(data, source, metric=metric))


def iter_prometheus(
    data: Payload,
    source: str,
    *,
    metric: str | None = None,
    keep: Keep | None = None,
    progress: Progress | None = None,
) -> Iterator[Series]:
    """The series of one response, one at a time, as the text is read; errors surface
    while iterating. A series for which ``keep(metric, labels)`` is false is yielded
    without its samples (they are skipped, never stored)."""
    chunks = TextChunks(data, source, progress)
    scan = Scanner(iter(chunks), source, chunks)
    first = scan.peek()
    if first == "\ufeff":
        raise scan.syntax("Unexpected UTF-8 BOM (decode using utf-8-sig)")
    if first == "":
        raise scan.syntax("Expecting value")
    if first != "{":
        scan.value("document")
        raise ExportError(source, "document", "expected a Prometheus API response object")
    top: dict[str, Any] = {}
    result_type: list[str | None] = [None]
    for key in scan.members():
        if key == "data":
            _check_status(top, source, final=False)
            yield from _data(scan, source, result_type, metric, keep)
            top["data"] = True
        else:
            top[key] = scan.value()
    scan.end()
    _check_status(top, source, final=True)
    if "data" not in top:
        raise ExportError(source, "data", "expected an object")


def _check_status(top: dict[str, Any], source: str, *, final: bool) -> None:
    status = top.get("status")
    if status == "error":
        raise ExportError(
            source,
            "status",
            f"Prometheus returned an error: {top.get('errorType')}: {top.get('error')}",
        )
    if (final or "status" in top) and status != "success":
        raise ExportError(source, "status", f'expected "success", got {_short(status)}')


def _data(
    scan: Scanner, source: str, result_type: list[str | None], hint: str | None, keep: Keep | None
) -> Iterator[Series]:
    if scan.peek() != "{":
        scan.value("data")
        raise ExportError(source, "data", "expected an object")
    seen_result = False
    for key in scan.members():
        if key == "resultType":
            result_type[0] = scan.value()
            _check_type(result_type[0], source)
        elif key == "result":
            if scan.peek() != "[":
                scan.value("data.result")
                raise ExportError(source, "data.result", "expected a list of series")
            seen_result = True
            for index in scan.elements():
                yield _series(scan, index, result_type[0], source, hint, keep)
        else:
            scan.value()
    _check_type(result_type[0], source)
    if not seen_result:
        raise ExportError(source, "data.result", "expected a list of series")


def _check_type(result_type: Any, source: str) -> None:
    if result_type not in ("matrix", "vector"):
        raise ExportError(
            source,
            "data.resultType",
            f"unsupported result type {_short(result_type)}; expected matrix or vector",
        )


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _series(
    scan: Scanner, index: int, result_type: str | None, source: str, hint: str | None,
    keep: Keep | None,
) -> Series:
    where = f"data.result[{index}]"
    if scan.peek() != "{":
        scan.value(where)
        raise ExportError(source, where, "expected a series object")
    raw_labels: Any = None
    samples: tuple[array, array] | None = None
    pairs: Any = None
    value: Any = None
    wanted = True
    for key in scan.members():
        if key == "metric":
            raw_labels = scan.value(f"{where}.metric")
            labels, metric = _labels(raw_labels, where, source, hint)
            wanted = keep is None or keep(metric, labels)
        elif key in ("histograms", "histogram"):
            raise ExportError(source, f"{where}.{key}", "native histograms are not supported")
        elif key == "values" and result_type != "vector" and scan.peek() == "[":
            samples = _samples(scan, f"{where}.values", source, store=wanted)
        elif key == "values":
            pairs = scan.value(f"{where}.values")
        elif key == "value":
            value = scan.value(f"{where}.value")
        else:
            scan.value()
    labels, metric = _labels(raw_labels, where, source, hint)
    vector = result_type == "vector" or (result_type is None and samples is None and pairs is None)
    if vector:
        t, v = _sample(value, f"{where}.value", source)
        return Series(source, metric, labels, array("d", [t]), array("d", [v]))
    if samples is None:
        samples = _checked(pairs, f"{where}.values", source)
    timestamps, values = samples
    out_of_order = sum(map(gt, timestamps, timestamps[1:])) if len(timestamps) > 1 else 0
    return Series(source, metric, labels, timestamps, values, out_of_order)


def _labels(raw: Any, where: str, source: str, hint: str | None) -> tuple[Labels, str | None]:
    if type(raw) is not dict or not all(type(k) is str and type(v) is str for k, v in raw.items()):
        raise ExportError(source, f"{where}.metric", "expected an object of string labels")
    bad = unkeepable(raw.items())
    if bad is not None:
        raise ExportError(source, f"{where}.metric.{bad}", UNKEEPABLE_WHY)
    labels: Labels = tuple(sorted((k, v) for k, v in raw.items() if k != "__name__"))
    return labels, raw.get("__name__", hint)


def _samples(scan: Scanner, where: str, source: str, *, store: bool) -> tuple[array, array]:
    """The [timestamp, "value"] pairs of a matrix series, walked as the text arrives.

    Well-formed runs are matched and converted in C; anything else (a number as value,
    a fault to locate) goes through ``json`` one sample at a time."""
    ts: array = array("d")
    vs: array = array("d")
    count = 0
    scan.expect("[", "Expecting '['")
    if scan.peek() == "]":
        scan.pos += 1
        return ts, vs
    while True:
        scan.ahead(_BLOCK)
        # Bounded: the regex engine keeps state per repetition of a matched run.
        run = _RUN.match(scan.buf, scan.pos, scan.pos + _BLOCK)
        if run is not None:
            found = _PAIRS.findall(scan.buf, scan.pos, run.end())
            if store:
                _add(found, ts, vs, count, where, source)
            count += len(found)
            scan.pos = run.end()
            continue
        last = _LAST.match(scan.buf, scan.pos)
        if last is not None:
            if store:
                _add([last.groups()], ts, vs, count, where, source)
            scan.pos = last.end()
            return ts, vs
        # Not the common shape: one sample through json, checked as the slow path does.
        t, v = _sample(scan.value(f"{where}[{count}]"), f"{where}[{count}]", source)
        if store:
            ts.append(t)
            vs.append(v)
        count += 1
        if scan.expect(",]", "Expecting ',' delimiter") == "]":
            return ts, vs


def _add(
    found: list[tuple[str, str]], ts: array, vs: array, first: int, where: str, source: str
) -> None:
    try:
        times = array("d", map(float, [t for t, _ in found]))
        values = array("d", map(float, [v for _, v in found]))
    except ValueError:
        times = values = None
    if times is None or values is None or min(times) < _MIN_TS or max(times) > _MAX_TS:
        for k, (t, v) in enumerate(found):  # locate the fault, and name it as json would
            _sample([json.loads(t), v], f"{where}[{first + k}]", source)
        raise AssertionError("unreachable: a faulty sample was not located")  # pragma: no cover
    ts.extend(times)
    vs.extend(values)


def _checked(pairs: Any, where: str, source: str) -> tuple[array, array]:
    if type(pairs) is not list:
        raise ExportError(source, where, "expected a list of [timestamp, value] pairs")
    ts: array = array("d")
    vs: array = array("d")
    for k, pair in enumerate(pairs):
        t, v = _sample(pair, f"{where}[{k}]", source)
        ts.append(t)
        vs.append(v)
    return ts, vs


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
