"""The scanner's known holes, each tried as an attack first: provider tokens,
any separator after a secret name, encoded keys, redacted copies found again."""

from __future__ import annotations

import base64
import io
import re

import pytest
from opsledger.archiver.secrets import hits as secret_hits
from opsledger.archiver.secrets.files import scan_stream
from opsledger.archiver.secrets.redact import redact_stream
from opsledger.archiver.secrets.rules import (
    DATA_RULES,
    MAX_MATCH,
    RULES,
    UNREDACTABLE,
    load_rules,
)

ENGINES = secret_hits.available()
ALNUM = "Zq8vN3kP1xWt5Rb9Lm2Yc7Hd4Gf6Js0Ta3Ue"  # 36 characters, random-looking


def token(prefix: str, n: int) -> str:
    return prefix + (ALNUM * 4)[:n]


PROVIDERS = {
    "github-pat": token("ghp_", 36),
    "github-oauth": token("gho_", 36),
    "github-app-token": token("ghs_", 36),
    "github-fine-grained-pat": token("github_pat_", 82),
    "gitlab-pat": token("glpat-", 20),
    "slack-token": "xoxb-1234567890123-1234567890123-" + ALNUM[:24],
    "stripe-access-token": token("sk_live_", 24),
    "gcp-api-key": token("AIza", 35),
    "npm-access-token": token("npm_", 36),
    "pypi-upload-token": "pypi-AgEIcHlwaS5vcmcCJDU" + ALNUM + ALNUM,
}
PEM = ("-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEA7b3Zx9Qk1vN2s8Lr0pYtWq4Hc6Ue\n"
       "-----END RSA PRIVATE KEY-----\n")


def scan(data: bytes | str, engine: str = "hyperscan", name: str = "deploy.log"):
    if isinstance(data, str):
        data = data.encode()
    engine = engine if engine in ENGINES else ENGINES[0]
    return scan_stream(io.BytesIO(data), name, engine=secret_hits.finder(engine))


def kinds(result) -> list[str]:
    return [f.kind for f in result.findings]


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("kind", sorted(PROVIDERS))
def test_a_provider_token_bare_in_a_url_and_in_an_argument_is_found(kind, engine):
    secret = PROVIDERS[kind]
    for line in (f"using {secret} now", f"git clone https://{secret}@github.com/desk/x.git",
                 f"--token={secret}", f"GITHUB_TOKEN={secret}"):
        result = scan(line + "\n", engine)
        assert kinds(result) == [kind], line
        assert secret[-8:] not in str(result.findings[0])


ASSIGNMENTS = {
    "yaml": ("db:\n  password: hunter2\n", "hunter2"),
    "json": ('{"user": "trader", "password": "hunter2"}', "hunter2"),
    "env file": ("DB_PASSWORD=Trading2026\n", "Trading2026"),
    "ini spaces": ("db_password = Trading2026\n", "Trading2026"),
    "aws credentials, no separator":
        ("aws_secret_access_key wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY\n",
         "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"),
    "aws credentials file": ("aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYzzKEY\n",
                             "wJalrXUtnFEMI/K7MDENG/bPxRfiCYzzKEY"),
    "shell argument": ("tradepulse-cli --api-key 9fQ2xL7vK3pW8mZ1nR4t\n", "9fQ2xL7vK3pW8mZ1nR4t"),
    "colon, token": ("token: Zq8vN3kP1xWt5Rb9\n", "Zq8vN3kP1xWt5Rb9"),
    "bare key": ("key = Zq8vN3kP1xWt5Rb9Lm2Yc7Hd\n", "Zq8vN3kP1xWt5Rb9Lm2Yc7Hd"),
    "go-style": ('secret := "Zq8vN3kP1xWt5Rb9"\n', "Zq8vN3kP1xWt5Rb9"),
    "punctuated password": ("password=P@ss!w0rd#2026\n", "P@ss!w0rd#2026"),
}


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("case", sorted(ASSIGNMENTS))
def test_a_value_after_a_secret_name_is_found_whatever_the_separator(case, engine):
    text, secret = ASSIGNMENTS[case]
    result = scan(text, engine)
    assert kinds(result) == ["high-entropy-assignment"], case
    out = io.BytesIO()
    redact_stream(io.BytesIO(text.encode()), out, result.spans)
    assert secret.encode() not in out.getvalue()


@pytest.mark.parametrize("line", [
    "token refresh scheduled for gateway\n",
    "secret scan passed: 0 findings\n",
    "password: ${DB_PASSWORD}\n",
    'password: "<set me>"\n',
    "password: required\n",
    "key: CHG-2041\n",
    "api_key: sha256:" + "ab" * 32 + "\n",
    "token = 0f5c2a9e-6c1b-4c8e-9a51-2b7f3c1d9e00\n",
    "primary key metrics.execution.latency\n",
    "2026-11-23T14:05:00Z INFO execution order filled ES qty=3 px=5321.25\n",
])
def test_look_alikes_are_not_secrets(line):
    assert kinds(scan(line)) == []


@pytest.mark.parametrize("engine", ENGINES)
def test_a_pem_key_in_utf16_is_found_and_cannot_be_redacted(engine):
    for encoding in ("utf-16-le", "utf-16-be", "utf-16"):
        result = scan(("notes\n" + PEM).encode(encoding), engine, "key.txt")
        assert kinds(result) == ["private-key-utf16"], encoding
        assert not result.redactable


@pytest.mark.parametrize("engine", ENGINES)
def test_a_base64_pem_key_is_found_a_kubernetes_tls_key_included(engine):
    encoded = base64.b64encode(PEM.encode()).decode()
    k8s = ("apiVersion: v1\nkind: Secret\ntype: kubernetes.io/tls\ndata:\n"
           f"  tls.crt: {base64.b64encode(b'-----BEGIN CERTIFICATE-----').decode()}\n"
           f"  tls.key: {encoded}\n")
    result = scan(k8s, engine, "secret.yaml")
    assert kinds(result) == ["private-key-base64"]
    assert not result.redactable
    for shift in (b"x", b"xy"):  # the key inside a larger base64 blob, any alignment
        blob = base64.b64encode(shift + PEM.encode()).decode()
        assert kinds(scan(f"blob {blob}\n", engine)) == ["private-key-base64"], shift


def test_a_base64_certificate_is_not_a_key():
    cert = base64.b64encode(b"-----BEGIN CERTIFICATE-----\nMIIB" + b"A" * 60).decode()
    assert kinds(scan(f"tls.crt: {cert}\n")) == []


REDACTABLE = [
    "postgresql://trader:Hunter2Pass@db.internal:5432/risk",
    "password: hunter2",
    "aws_secret_access_key wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
    "--token " + PROVIDERS["github-pat"],
    "https://" + PROVIDERS["github-pat"] + "@github.com/desk/x.git",
    "Authorization: Bearer s3cr3tT0kenValue_123456",
    *PROVIDERS.values(),
]


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("line", REDACTABLE)
def test_a_redacted_copy_is_never_found_again(line, engine):
    data = f"before\n{line}\nafter\n".encode()
    first = scan(data, engine)
    assert first.findings, line
    out = io.BytesIO()
    redact_stream(io.BytesIO(data), out, first.spans)
    again = scan(out.getvalue(), engine)
    assert again.findings == (), out.getvalue()
    assert b"[REDACTED:" in out.getvalue()


def test_the_issue_s_redacted_url_is_clean():
    assert scan("postgresql://trader:[REDACTED:url-password]@db/risk\n").findings == ()


def test_data_rules_are_bounded_and_their_keywords_anchor_the_fallback():
    kinds_in_data = {r.kind for r in DATA_RULES}
    assert {"github-pat", "gitlab-pat", "slack-token", "stripe-access-token", "gcp-api-key",
            "npm-access-token", "pypi-upload-token"} <= kinds_in_data
    for kind, pattern, _ in RULES:
        assert re._parser.parse(pattern.pattern).getwidth()[1] <= MAX_MATCH, kind
    assert {"private-key-base64", "private-key-utf16"} <= UNREDACTABLE


def test_a_desk_can_add_a_gitleaks_format_rule_as_data():
    [rule] = load_rules("""
[[rules]]
id = "openai-api-key"
description = "OpenAI API key"
regex = '''sk-[a-zA-Z0-9]{48}'''
keywords = ["sk-"]
""")
    assert (rule.kind, rule.regex, rule.keywords, rule.redactable) == (
        "openai-api-key", b"sk-[a-zA-Z0-9]{48}", (b"sk-",), True)


def test_random_binary_bytes_are_not_taken_for_assignments():
    import random

    data = random.Random(7).randbytes(16 << 20)  # 'pw' + ':' + printable runs occur by chance
    assert scan(data, name="observability-extra.log").findings == ()
