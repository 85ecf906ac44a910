"""Large and hostile SLA input: exports are read as a stream, so memory holds the
samples, not the document; a gzip bomb ends in one line, quickly, in little memory."""

from __future__ import annotations

import gzip
import io
import json
import subprocess
import sys
from pathlib import Path

import pytest
from opsledger.domain.sla import ExportError, Policy, evaluate, iter_prometheus, read_prometheus

ROOT = Path(__file__).resolve().parents[2]
T0 = 1_714_550_400
HWM = "next(l.split()[1] for l in open('/proc/self/status') if l.startswith('VmHWM'))"


def write_export(path: Path, mib: int) -> int:
    """About `mib` MiB of a query_range export: latency series at 1 s, each sample a
    full float repr, as the demo writes them. Returns the sample count."""
    day = ", ".join(f'[{T0 + i}, "{70 + (i * 7919 % 1000) / 97:.14f}"]' for i in range(86_400))
    samples = 0
    with path.open("w") as out:
        out.write('{"status": "success", "data": {"resultType": "matrix", "result": [')
        n = 0
        while out.tell() < mib << 20:
            out.write(("" if n == 0 else ", ") + '{"metric": {"__name__": '
                      f'"metrics_execution_latency", "strategy": "s{n}"}}, "values": [{day}]}}')
            n += 1
            samples += 86_400
        out.write("]}}")
    return samples


def peak_rss_kib(code: str, *args: str, timeout: float = 120) -> tuple[int, str]:
    # VmHWM, not ru_maxrss: Linux carries ru_maxrss across exec from the parent,
    # and the parent here is a pytest process of any size.
    out = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True,
                         cwd=ROOT, timeout=timeout, check=False)
    assert out.returncode == 0, out.stderr
    *printed, hwm = out.stdout.strip().splitlines()
    return int(hwm), "\n".join(printed)


def test_a_large_export_is_read_in_bounded_memory(tmp_path):
    path = tmp_path / "metrics.json"
    samples = write_export(path, 32)
    size = path.stat().st_size
    code = (
        "import sys\n"
        "from opsledger.domain.sla import Policy, evaluate, iter_prometheus\n"
        "with open(sys.argv[1], 'rb') as stream:\n"
        "    result = evaluate(Policy(), iter_prometheus(stream, sys.argv[1]))\n"
        "print(sum(s.samples for s in result.series))\n"
        f"print({HWM})\n"
    )
    baseline, _ = peak_rss_kib("from opsledger.domain.sla import evaluate\n" f"print({HWM})\n")
    peak, counted = peak_rss_kib(code, str(path))
    assert int(counted) == samples
    # The decoded document (json.loads) alone took 9x the file; the stream keeps the
    # samples (16 bytes each, all of them wanted here) and a chunk or two of text.
    used = (peak - baseline) * 1024
    assert used < 16 * samples + (24 << 20), (used, samples, size)


def test_series_no_rule_wants_are_skipped_without_storing_their_samples():
    doc = {"status": "success", "data": {"resultType": "matrix", "result": [
        {"metric": {"__name__": "tradepulse_fills_total"}, "values": [[T0, "1"], [T0 + 1, "2"]]},
        {"metric": {"__name__": "metrics_execution_latency"}, "values": [[T0, "130"]]},
    ]}}
    wanted = lambda metric, labels: metric == "metrics_execution_latency"  # noqa: E731
    series = list(iter_prometheus(json.dumps(doc).encode(), "e.json", keep=wanted))
    assert [(s.metric, len(s.timestamps)) for s in series] == [
        ("tradepulse_fills_total", 0), ("metrics_execution_latency", 1)]


@pytest.mark.parametrize("chunk", [1, 7, 4096])
def test_the_stream_gives_the_same_series_whatever_the_chunk_boundaries(chunk, monkeypatch):
    import opsledger.domain.sla.chunks as chunks

    doc = {"status": "success", "data": {"resultType": "matrix", "result": [
        {"metric": {"__name__": "m", "é": "ü"}, "values": [[T0 + i, f"{i}.5"] for i in range(300)]
         + [[T0 + 300, 7], [T0 + 301.25, "NaN"]]},
    ]}}
    text = json.dumps(doc, ensure_ascii=False, indent=1).encode()
    whole = read_prometheus(text, "e.json")
    monkeypatch.setattr(chunks, "CHUNK", chunk)
    for data in (text, gzip.compress(text)):
        (one,) = read_prometheus(io.BytesIO(data), "e.json")
        assert one.labels == whole[0].labels
        assert list(one.timestamps) == list(whole[0].timestamps)
        assert list(one.values)[:301] == list(whole[0].values)[:301]


def bomb(path: Path, prefix: bytes, filler: bytes, members: int) -> None:
    """An 18 MB gzip that inflates to gigabytes: one member repeated, each a MiB of
    `filler` squeezed to about a kilobyte (gzip allows members back to back)."""
    member = gzip.compress(filler * ((1 << 20) // len(filler)), compresslevel=9)
    with path.open("wb") as out:
        out.write(gzip.compress(prefix))
        while out.tell() < 18 << 20:
            out.write(member * members)


HEADER = (b'{"status": "success", "data": {"resultType": "matrix", "result": '
          b'[{"metric": {"__name__": "metrics_execution_latency"}, "values": [')


@pytest.mark.parametrize(("prefix", "filler", "reason"), [
    (b"", b"\0", "JSON syntax"),  # zeros: not JSON at its first byte
    (b"", b" ", "likely gzip bomb"),  # white space that never ends
    (HEADER, b'[1714550400, "1"], ', "likely gzip bomb"),  # samples without end
])
def test_a_gzip_bomb_given_to_sla_evaluate_ends_in_one_line(tmp_path, prefix, filler, reason):
    path = tmp_path / "metrics_bomb.json.gz"
    bomb(path, prefix, filler, 64)
    assert path.stat().st_size >= 18 << 20
    code = (
        "import sys\n"
        "from opsledger.cli.main import cli\n"
        "try:\n"
        "    cli.main(args=sys.argv[1:], prog_name='opsledger')\n"
        "except SystemExit as e:\n"
        "    print('exit', e.code)\n"
        f"print({HWM})\n"
    )
    home = tmp_path / "home"
    argv = ["sla", "evaluate", "CHG-1", str(path), "--dry-run"]
    env_code = ("import os, runpy, sys\n"
                f"os.environ.update(OPSLEDGER_HOME={str(home)!r}, OPSLEDGER_ACTOR='dana.ops')\n")
    out = subprocess.run([sys.executable, "-c", env_code + code, *argv], capture_output=True,
                         text=True, cwd=ROOT, timeout=60, check=False)
    printed = out.stdout.strip().splitlines()
    assert printed[-2] in ("exit 1", "exit 2"), out
    errors = [line for line in out.stderr.splitlines() if line.strip()]
    assert len(errors) == 1 and "metrics_bomb.json.gz" in errors[0] and reason in errors[0]
    assert int(printed[-1]) < 256 * 1024


def test_the_limits_are_one_line_errors():
    huge_value = b'{"status": "success", "data": {"resultType": "matrix", "result": [' \
                 b'{"metric": {"a": "' + b"x" * (5 << 20) + b'"}}]}}'
    with pytest.raises(ExportError, match="a JSON value longer than"):
        read_prometheus(io.BytesIO(huge_value), "big.json")


def test_evaluate_over_the_stream_finds_the_same_breaches():
    doc = {"status": "success", "data": {"resultType": "matrix", "result": [
        {"metric": {"__name__": "metrics_execution_latency"},
         "values": [[T0 + 15 * i, "150" if 10 <= i < 14 else "80"] for i in range(40)]}]}}
    (breach,) = evaluate(Policy(), read_prometheus(io.BytesIO(json.dumps(doc).encode()), "e")).breaches
    assert (breach.rule, breach.samples, breach.observed) == ("order_latency", 4, 150.0)


def test_reading_reports_progress_in_bytes_of_the_file(tmp_path, monkeypatch):
    import opsledger.domain.sla.chunks as chunks

    monkeypatch.setattr(chunks, "CHUNK", 1024)
    path = tmp_path / "e.json"
    write_export(path, 1)  # one day of one series, ~2.7 MB
    seen: list[tuple[int, int | None]] = []
    with path.open("rb") as stream:
        list(iter_prometheus(stream, "e.json", progress=lambda done, total: seen.append((done, total))))
    size = path.stat().st_size
    assert len(seen) > 100 and seen[-1] == (size, size)
    assert [done for done, _ in seen] == sorted(done for done, _ in seen)
