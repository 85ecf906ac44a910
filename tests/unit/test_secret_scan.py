"""The secret scanner: every kind found, digests left alone, secrets never echoed."""

from __future__ import annotations

import io
import re
import uuid
from pathlib import Path

import pytest
from opsledger.archiver.payload import PayloadFile
from opsledger.archiver.secrets import hits as secret_hits
from opsledger.archiver.secrets.files import scan_file, scan_stream, scan_tree
from opsledger.archiver.secrets.redact import redact_stream, stage_redacted
from opsledger.archiver.secrets.rules import MAX_MATCH, MAX_TRIGGER, RULES, fingerprint
from opsledger.archiver.secrets.scanner import (
    FileScanner,
    SecretFinding,
    SecretsFoundError,
    TreeScan,
)
from opsledger.archiver.secrets.scanner import scan_text as scan_pieces

AWS = "AKIAIOSFODNN7EXAMPLE"
AWS_FP = fingerprint(AWS.encode())  # keyed: no character of the key
JWT = ("eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4ifQ"
       ".SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c")
AZURE_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
PEM_BODY = "MIIEowIBAAKCAQEA7b3Zx9Qk1vN2s8Lr0pYtWq4Hc6Ue"

SECRETS = {
    "aws-access-key": (f"2026-11-24 deploy using key {AWS} for s3", AWS),
    "aws-session-key": ("creds ASIAY34FZKBOKMUTVV7A issued", "ASIAY34FZKBOKMUTVV7A"),
    "gcp-service-account-key": (
        '{"type": "service_account", "private_key": "-----BEGIN PRIVATE KEY-----\\n'
        + PEM_BODY + '\\n-----END PRIVATE KEY-----\\n", "client_email": "a@b.iam"}',
        PEM_BODY,
    ),
    "azure-storage-key": (
        "DefaultEndpointsProtocol=https;AccountName=desk;AccountKey="
        + AZURE_KEY + ";EndpointSuffix=core.windows.net",
        AZURE_KEY,
    ),
    "bearer-token": ("GET /v1/orders Authorization: Bearer s3cr3tT0kenValue_123456",
                     "s3cr3tT0kenValue_123456"),
    "jwt": (f"session cookie={JWT}", JWT),
    "url-password": ("connecting to postgres://trader:Hunter2Pass@db.internal:5432/risk",
                     "Hunter2Pass"),
    "high-entropy-assignment": ("api_key = 'x9F2kLq8Zr4Tn7Wb1Vc6'", "x9F2kLq8Zr4Tn7Wb1Vc6"),
}
EXPECTED_KIND = {"aws-session-key": "aws-access-key"}


def scan_text(text: str, **kw):
    return scan_stream(io.BytesIO(text.encode()), "deploy.log", **kw)


@pytest.mark.parametrize("name", sorted(SECRETS))
def test_each_kind_is_found_on_its_line_and_never_echoed(name):
    line, secret = SECRETS[name]
    result = scan_text(f"starting deploy\nstep 1 ok\n{line}\nstep 2 ok\n")
    assert [(f.line, f.kind) for f in result.findings] == [(3, EXPECTED_KIND.get(name, name))]
    finding = result.findings[0]
    assert secret not in str(finding) and secret not in str(SecretsFoundError([finding]))
    # Not a prefix, not the length: no character of the secret is shown.
    assert re.fullmatch(r"fp:[0-9a-f]{12}", finding.fingerprint)  # a keyed digest only
    assert secret[:4] not in str(finding)


def test_private_key_block_over_several_lines_is_one_finding_and_fully_redacted():
    text = ("before\n-----BEGIN RSA PRIVATE KEY-----\n" + PEM_BODY + "\n" + PEM_BODY[::-1]
            + "\n-----END RSA PRIVATE KEY-----\nafter\n")
    result = scan_text(text)
    assert [(f.line, f.kind) for f in result.findings] == [(2, "private-key")]
    out = io.BytesIO()
    redact_stream(io.BytesIO(text.encode()), out, result.spans)
    redacted = out.getvalue().decode()
    assert PEM_BODY not in redacted and PEM_BODY[::-1] not in redacted
    assert redacted.startswith("before\n") and redacted.endswith("after\n")
    assert redacted.count("[REDACTED:private-key]") == 4


def test_digests_uuids_and_hex_are_not_flagged():
    sha = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
    lines = [
        f"artifact sha256:{sha}",
        f"log_sha256={sha}",
        f"secret_digest={sha}",
        f"token_sha512={sha}{sha}",
        f"token=sha256:{sha}",
        f"request_token={uuid.UUID(int=0x1234567890abcdef1234567890abcdef)}",
        "commit_token=3f786850e387550fdab836ed7e6dc881de23001b",
        "password=changeme",
        "password=${DB_PASSWORD}",
        "token_count=123456789012",
        "secret_name=prod-db-credentials",
        "see https://docs.internal/runbook for details",
        "postgres://trader:****@db.internal/risk",
    ]
    assert scan_text("\n".join(lines) + "\n").findings == ()


def test_high_entropy_threshold():
    assert scan_text("token=aaaaaaaaaa1\n").findings == ()  # low entropy
    # after a password name and a separator, any real value is a password
    assert len(scan_text("password=aaaaaaaaaa1\n").findings) == 1
    assert len(scan_text("client_secret: 'Zq8vN3kP1xWt5Rb9'\n").findings) == 1


def chunked(data: bytes, size: int) -> list[bytes]:
    return [data[i:i + size] for i in range(0, len(data), size)]


@pytest.mark.parametrize("pad", [MAX_TRIGGER - 10, MAX_TRIGGER + 3, MAX_MATCH + 5, 3 * MAX_MATCH])
@pytest.mark.parametrize("chunk", [4096, 1 << 20])
def test_long_lines_are_bounded_and_a_key_on_them_is_still_found(pad, chunk):
    text = "x" * pad + " " + AWS + " " + "y" * 100 + "\nnext AKIAZZZZZZZZZZZZZZZZ\n"
    scanner = FileScanner("deploy.log")
    retained = 0
    for piece in chunked(text.encode(), chunk):
        scanner.feed(piece)
        retained = max(retained, scanner.retained_bytes)
    findings, spans = scanner.finish()
    assert [(f.line, f.kind) for f in findings] == [(1, "aws-access-key"), (2, "aws-access-key")]
    # memory: what one line needs around a trigger, not the line
    assert retained <= MAX_TRIGGER + MAX_MATCH + chunk
    out = io.BytesIO()
    redact_stream(io.BytesIO(text.encode()), out, spans)
    redacted = out.getvalue().decode()
    assert AWS not in redacted and "AKIAZZZZ" not in redacted
    assert redacted.count("\n") == 2 and redacted.startswith("x" * pad + " [REDACTED:")


def full_session_text() -> bytes:
    """Every kind, a multi-line key block with a secret after its END, a
    secret far into a long line, and two on one line."""
    lines = ["starting\n", *(SECRETS[k][0] + "\n" for k in sorted(SECRETS)),
             "before\n-----BEGIN RSA PRIVATE KEY-----\n" + PEM_BODY + "\n" + PEM_BODY[::-1]
             + "\n-----END RSA PRIVATE KEY----- then token=Zq8vN3kP1xWt5Rb9\nafter\n",
             "x" * 20_000 + " " + AWS + "\n",
             "a=" + AWS + " b=https://u:Pw9xYz7Q@h.example\n",
             "no newline at the end: password=Hq3vL9xWp2Ze"]
    return "".join(lines).encode()


@pytest.mark.parametrize("engine", secret_hits.available())
def test_findings_do_not_depend_on_where_the_chunks_are_cut(engine):
    """The build hands the scanner 1 MiB chunks cut anywhere, mid-line and
    mid-secret: every cut gives the same findings and spans as one block."""
    data = full_session_text()

    def scan(size: int):
        found = scan_pieces("s.log", chunked(data, size), engine=secret_hits.finder(engine))
        return [(f.line, f.kind, f.fingerprint, f.offset) for f in found.findings], found.spans

    whole = scan(len(data))
    assert [(line, kind) for line, kind, *_ in whole[0]] == [
        (2, "aws-access-key"), (3, "aws-access-key"), (4, "azure-storage-key"),
        (5, "bearer-token"), (6, "gcp-service-account-key"), (7, "high-entropy-assignment"),
        (8, "jwt"), (9, "url-password"), (11, "private-key"), (14, "high-entropy-assignment"),
        (16, "aws-access-key"), (17, "aws-access-key"), (17, "url-password"),
        (18, "high-entropy-assignment")]
    for size in [*range(1, 70), 127, 4096, 8191, 8193, 20_001]:
        assert scan(size) == whole, size


def test_both_engines_find_the_same():
    data = full_session_text()
    results = {name: scan_pieces("s.log", [data], engine=secret_hits.finder(name)).findings
               for name in secret_hits.available()}
    assert len(set(map(tuple, results.values()))) == 1


def test_no_rule_matches_more_than_the_scanner_keeps_around_a_trigger():
    for kind, pattern, _ in RULES:
        assert re._parser.parse(pattern.pattern).getwidth()[1] <= MAX_MATCH, kind


@pytest.mark.parametrize("engine", secret_hits.available())
def test_the_longest_secrets_each_rule_allows_are_found_on_long_lines(engine):
    jwt = "eyJ" + "a" * 4096 + ".eyJ" + "b" * 8000 + "." + "c" * 100
    longest = {
        "jwt": f"cookie={jwt}",
        "url-password": "redis://" + "u" * 256 + ":" + "p9Q" * 85 + "@cache.internal",
        "high-entropy-assignment": "secret" + "_" * 64 + " " * 64 + "=" + " " * 64 + "Zq8vN3kP1xWt",
        "gcp-service-account-key": '"private_key": "-----BEGIN PRIVATE KEY-----\\n'
                                   + "Q" * 16000 + '"',
    }
    for kind, line in longest.items():
        data = ("z" * (3 * MAX_MATCH) + " " + line + " tail\n").encode()
        for size in (1000, 1 << 16, len(data)):
            found = scan_pieces("s.log", chunked(data, size), engine=secret_hits.finder(engine))
            assert [(f.line, f.kind) for f in found.findings] == [(1, kind)], (kind, size)


def test_line_numbers_count_clean_blocks(tmp_path: Path):
    body = "".join(f"tick {i} price=100.{i % 10}\n" for i in range(200_000))
    path = tmp_path / "validation.log"
    path.write_text(body + f"leak {AWS}\n")
    result = scan_file(PayloadFile("validation.log", str(path), path.stat().st_size, 0, 0o644))
    assert [(f.line, f.kind) for f in result.findings] == [(200_001, "aws-access-key")]


def test_redaction_stages_a_copy_and_leaves_the_source_untouched(tmp_path: Path):
    src = tmp_path / "src"
    (src / "sub").mkdir(parents=True)
    (src / "deploy.log").write_text(f"ok\nkey {AWS} used\nBearer only\n")
    (src / "sub" / "clean.csv").write_text("a,b\n1,2\n")
    (src / "metrics_1.json.gz").write_bytes(b"\x1f\x8b" + AWS.encode())
    original = (src / "deploy.log").read_bytes()
    scan = scan_tree(src)
    assert isinstance(scan, TreeScan)
    assert [str(f) for f in scan.findings] == [f"deploy.log:2: aws-access-key ({AWS_FP})"]
    assert [s.path for s in scan.files if s.skipped] == ["metrics_1.json.gz"]
    staging = tmp_path / "staging"
    staging.mkdir()
    done = stage_redacted(src, scan, staging)
    assert (src / "deploy.log").read_bytes() == original
    assert (staging / "deploy.log").read_text() == \
        "ok\nkey [REDACTED:aws-access-key] used\nBearer only\n"
    assert (staging / "sub" / "clean.csv").read_text() == "a,b\n1,2\n"
    assert (staging / "deploy.log").stat().st_mtime == (src / "deploy.log").stat().st_mtime
    [r] = done
    assert r.path == "deploy.log" and r.original_sha256 == scan.files[0].sha256
    assert r.redacted_sha256 != r.original_sha256
    assert r.findings == (SecretFinding("deploy.log", 2, "aws-access-key", AWS_FP),)


def test_several_hits_in_one_block_keep_their_lines_and_an_overlap_counts_once():
    text = ("ok\n" * 50 + f"Authorization: Bearer {JWT}\n" + "ok\n" * 50
            + f"a={AWS} b=https://u:Pw9xYz7Q@h.example\n")
    result = scan_text(text)
    assert [(f.line, f.kind) for f in result.findings] == [
        (51, "bearer-token"), (102, "aws-access-key"), (102, "url-password")]
    out = io.BytesIO()
    redact_stream(io.BytesIO(text.encode()), out, result.spans)
    assert out.getvalue().decode().splitlines()[101] == \
        "a=[REDACTED:aws-access-key] b=https://u:[REDACTED:url-password]@h.example"


def test_the_ticket_records_a_redaction_once_and_refuses_a_malformed_one():
    from datetime import date

    from opsledger.domain.errors import InvalidInput
    from opsledger.domain.runbook import Env, Role
    from opsledger.domain.ticket import Ticket

    ticket = Ticket.open(key="CHG-1", strategy="s1", env=Env("prod"),
                         artifact_digest="sha256:" + "a" * 64, actor="ann", role=Role.OPERATOR,
                         session_date=date(2026, 11, 24))
    record = dict(file="deploy.log", original_sha256="1" * 64, redacted_sha256="2" * 64,
                  findings=[{"kind": "aws-access-key", "line": 2}], actor="ann", role=None)
    assert ticket.record_redaction(**record) is True
    assert ticket.record_redaction(**record) is False  # a rerun adds nothing
    assert ticket.redactions == [{"file": "deploy.log", "original_sha256": "1" * 64,
                                  "redacted_sha256": "2" * 64,
                                  "findings": [{"kind": "aws-access-key", "line": 2}]}]
    for bad in ({"redacted_sha256": "1" * 64}, {"original_sha256": "xyz"}, {"findings": []},
                {"findings": [{"kind": "jwt", "line": 0}]}):
        with pytest.raises(InvalidInput):
            ticket.record_redaction(**{**record, **bad})
    assert [type(e).__name__ for e in ticket.pending_events].count("PayloadRedacted") == 1
