"""Reading Prometheus query/query_range exports, and refusing bad ones with a position."""

from __future__ import annotations

import gzip
import io
import json
import math
from pathlib import Path
from typing import Any

import pytest
from opsledger.domain.sla import ExportError, Series, read_prometheus

DATA = Path(__file__).parent.parent / "data" / "sla"


def response(result_type: str, result: list[dict[str, Any]]) -> bytes:
    doc = {"status": "success", "data": {"resultType": result_type, "result": result}}
    return json.dumps(doc).encode()


def comparable(series: list[Series]) -> list[tuple[Any, ...]]:
    # NaN != NaN, so compare the values' text.
    return [(s.metric, s.labels, s.timestamps, [repr(v) for v in s.values]) for s in series]


def test_a_query_range_matrix_keeps_labels_and_special_values() -> None:
    series = read_prometheus((DATA / "latency_query_range.json").read_bytes(), "latency.json")
    assert [s.labels for s in series] == [
        (("desk", "rates"), ("env", "prod")),
        (("desk", "fx"), ("env", "prod")),
    ]
    rates, fx = series
    assert rates.metric == "metrics_execution_latency"
    assert rates.source == "latency.json"
    assert list(rates.timestamps[:2]) == [1714564800.0, 1714564815.0]  # array('d')
    assert rates.values[1] == 121.0 and math.isnan(rates.values[2])
    assert list(fx.values[1:3]) == [math.inf, -math.inf]


def test_an_instant_query_vector_gives_one_sample_per_series() -> None:
    data = response(
        "vector",
        [
            {
                "metric": {"__name__": "metrics_portfolio_drift", "book": "b1"},
                "value": [1714564800.5, "0.2"],
            },
            {
                "metric": {"__name__": "metrics_portfolio_drift", "book": "b2"},
                "value": [1714564800.5, "-0.7"],
            },
        ],
    )
    series = read_prometheus(data, "drift-now.json")
    assert [(s.labels, list(s.timestamps), list(s.values)) for s in series] == [
        ((("book", "b1"),), [1714564800.5], [0.2]),
        ((("book", "b2"),), [1714564800.5], [-0.7]),
    ]


def test_gzip_is_recognised_by_its_magic_bytes_whatever_the_name() -> None:
    plain = (DATA / "latency_query_range.json").read_bytes()
    packed = gzip.compress(plain)
    assert comparable(read_prometheus(packed, "x")) == comparable(read_prometheus(plain, "x"))
    # Concatenated gzip members are one stream, as gzip(1) treats them.
    half = len(plain) // 2
    members = gzip.compress(plain[:half]) + gzip.compress(plain[half:])
    assert comparable(read_prometheus(members, "x")) == comparable(read_prometheus(plain, "x"))


def test_binary_streams_are_read_like_bytes() -> None:
    with (DATA / "risk_heartbeat.json.gz").open("rb") as stream:
        series = read_prometheus(stream, "risk_heartbeat.json.gz")
    assert len(series) == 1 and len(series[0].timestamps) == 11


def test_unnamed_results_take_the_callers_metric_name() -> None:
    # histogram_quantile() drops __name__, so the caller says what the export holds.
    data = response("matrix", [{"metric": {"desk": "rates"}, "values": [[1, "100"]]}])
    assert read_prometheus(data, "p95.json")[0].metric is None
    assert read_prometheus(data, "p95.json", metric="metrics.execution.latency")[0].metric == (
        "metrics.execution.latency"
    )


def test_empty_results_are_not_an_error() -> None:
    assert read_prometheus(response("matrix", []), "empty.json") == []
    assert read_prometheus(response("vector", []), "empty.json") == []
    series = read_prometheus(response("matrix", [{"metric": {}, "values": []}]), "e.json")
    assert len(series[0].timestamps) == 0


def test_out_of_order_samples_are_counted_not_refused() -> None:
    data = response("matrix", [{"metric": {}, "values": [[3, "1"], [1, "1"], [2, "1"], [2, "1"]]}])
    assert read_prometheus(data, "x")[0].out_of_order == 1


def test_a_non_numeric_value_is_reported_with_file_result_and_sample() -> None:
    with pytest.raises(ExportError) as caught:
        read_prometheus((DATA / "bad_value.json").read_bytes(), "bad_value.json")
    error = caught.value
    assert (error.source, error.position) == ("bad_value.json", "data.result[1].values[2]")
    assert str(error) == "bad_value.json: data.result[1].values[2]: value 'fast' is not a number"


def test_a_truncated_gzip_export_names_the_byte_where_it_ends() -> None:
    packed = (DATA / "risk_heartbeat.json.gz").read_bytes()
    with pytest.raises(ExportError, match=r"^cut.gz: byte 100: gzip stream is truncated$"):
        read_prometheus(packed[:100], "cut.gz")


def test_corrupt_gzip_data_is_refused() -> None:
    packed = bytearray(gzip.compress((DATA / "latency_query_range.json").read_bytes()))
    packed[-6] ^= 0xFF  # inside the CRC/size trailer
    with pytest.raises(ExportError, match=r"^bad.gz: gzip member at byte 0: corrupt gzip data"):
        read_prometheus(bytes(packed), "bad.gz")
    with pytest.raises(ExportError, match=r"trailing data after the gzip stream"):
        read_prometheus(gzip.compress(b"{}") + b"junk", "bad.gz")


def test_json_syntax_errors_give_the_byte_offset() -> None:
    text = '{"status": "success", "data": {"resultType": "matrix", "result": [}}'
    offset = text.index("}}")
    with pytest.raises(ExportError) as caught:
        read_prometheus(text.encode(), "broken.json")
    assert caught.value.position == f"byte {offset}"
    # Inside gzip the offset counts decompressed bytes, and says so.
    with pytest.raises(ExportError) as caught:
        read_prometheus(gzip.compress(text.encode()), "broken.json.gz")
    assert caught.value.position == f"decompressed byte {offset}"
    # Offsets are bytes, not characters, so they still point right after UTF-8 text.
    text = '{"status": "é", x}'
    with pytest.raises(ExportError) as caught:
        read_prometheus(text.encode(), "utf8.json")
    assert caught.value.position == f"byte {len(text.encode()) - 2}"


@pytest.mark.parametrize(
    ("data", "position", "reason"),
    [
        (b'"success"', "document", "expected a Prometheus API response object"),
        (
            b'{"status": "error", "errorType": "bad_data", "error": "parse error"}',
            "status",
            "Prometheus returned an error: bad_data: parse error",
        ),
        (b'{"status": "pending"}', "status", "expected \"success\", got 'pending'"),
        (b'{"status": "success", "data": []}', "data", "expected an object"),
        (
            b'{"status": "success", "data": {"resultType": "scalar", "result": [1, "2"]}}',
            "data.resultType",
            "unsupported result type 'scalar'",
        ),
        (
            b'{"status": "success", "data": {"resultType": "matrix", "result": {}}}',
            "data.result",
            "expected a list of series",
        ),
        (
            response("matrix", [{"metric": {}, "values": []}, 7]),
            "data.result[1]",
            "expected a series object",
        ),
        (
            response("matrix", [{"metric": {"job": 1}, "values": []}]),
            "data.result[0].metric",
            "expected an object of string labels",
        ),
        (
            response("matrix", [{"metric": {}}]),
            "data.result[0].values",
            "expected a list of [timestamp, value] pairs",
        ),
        (
            response("matrix", [{"metric": {}, "values": [[1, "1"], [2]]}]),
            "data.result[0].values[1]",
            "expected [timestamp, value], got [2]",
        ),
        (
            response("matrix", [{"metric": {}, "values": [[1, "1"], ["2", "1"]]}]),
            "data.result[0].values[1]",
            "timestamp '2' is not a number",
        ),
        (
            response("matrix", [{"metric": {}, "values": [[1, "1"], [True, "1"]]}]),
            "data.result[0].values[1]",
            "timestamp True is not a number",
        ),
        (
            response("matrix", [{"metric": {}, "values": [[1e300, "1"]]}]),
            "data.result[0].values[0]",
            "timestamp 1e+300 is out of range",
        ),
        (
            response("matrix", [{"metric": {}, "values": [[-1, "1"]]}]),
            "data.result[0].values[0]",
            "timestamp -1 is out of range",
        ),
        (
            response("matrix", [{"metric": {}, "values": [[10**400, "1"]]}]),
            "data.result[0].values[0]",
            "is out of range",
        ),
        (
            response("matrix", [{"metric": {}, "values": [[1, None]]}]),
            "data.result[0].values[0]",
            "value None is not a number",
        ),
        (
            response("matrix", [{"metric": {}, "values": [[1, ""]]}]),
            "data.result[0].values[0]",
            "value '' is not a number",
        ),
        (
            response("matrix", [{"metric": {}, "histograms": [[1, {}]]}]),
            "data.result[0].histograms",
            "native histograms are not supported",
        ),
        (
            response("vector", [{"metric": {}, "value": [1, "x"]}]),
            "data.result[0].value",
            "value 'x' is not a number",
        ),
        (
            response("vector", [{"metric": {}, "values": [[1, "1"]]}]),
            "data.result[0].value",
            "expected [timestamp, value], got None",
        ),
        (
            b'{"status": "success", "data": {"resultType": "matrix", "result": [{"metric": {}, "values": [[NaN, "1"]]}]}}',
            "data.result[0].values[0]",
            "timestamp NaN (bare JSON literal) is not a number",
        ),
        (b"\xef\xbb\xbf{}", "byte 0", "JSON syntax: Unexpected UTF-8 BOM"),
        (b'{"a": "\xc3"}', "byte 7", "not valid UTF-8"),
        (b"", "byte 0", "JSON syntax: Expecting value"),
        (b"[" * 100_000, "document", "JSON: maximum recursion depth exceeded"),
    ],
)
def test_bad_exports_raise_a_typed_one_line_error_with_position(
    data: bytes, position: str, reason: str
) -> None:
    with pytest.raises(ExportError) as caught:
        read_prometheus(io.BytesIO(data), "export.json")
    error = caught.value
    assert error.source == "export.json"
    assert error.position == position
    assert reason in error.reason
    assert "\n" not in str(error)


def test_text_streams_are_refused_clearly() -> None:
    with pytest.raises(ExportError, match="the stream must be opened in binary mode"):
        read_prometheus(io.StringIO("{}"), "text.json")  # type: ignore[arg-type]
