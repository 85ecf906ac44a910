"""Paper cuts of issue 15, each as the user met it: what they typed, what they
now see. One story per cut."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
from clirunner import invoke, staff
from conftest import PG_URL, require_postgres


def ol(env, *argv: str):
    return invoke(list(argv), env)


# --- help ---------------------------------------------------------------------------------


def test_a_newcomer_types_opsledger_alone_and_reads_its_help(cli_env):
    for argv in ([], ["ticket"], ["roster"]):
        r = ol(cli_env, *argv)
        assert r.code in (0, 2), argv  # click's choice for a group called without a command
        assert "\\n" not in r.out + r.err, argv
        text = r.out + r.err
        assert text.startswith("Usage: opsledger"), argv
        assert "Commands:" in text.splitlines(), argv
        assert "error" not in text.splitlines()[0], argv


def test_ticket_help_gives_each_summary_whole(cli_env):
    r = ol(cli_env, "ticket", "--help")
    assert r.code == 0
    line = next(x for x in r.out.splitlines() if x.strip().startswith("open "))
    assert "(e.g." not in line
    assert "Open change ticket KEY, such as CHG-2041, for a live session." in line


# --- flags ----------------------------------------------------------------------------------

ARTIFACT = "sha256:" + "ab" * 32
OPERATOR, DEV_LEAD, RELEASE_MANAGER = "dana.ops", "dave.dev", "alice.rm"


def staffed(env) -> dict:
    staff(env)
    return env


def open_ticket(env, key: str = "CHG-2041") -> None:
    r = ol(env, "ticket", "open", key, "--strategy", "momo-1", "--artifact", ARTIFACT,
           "--actor", DEV_LEAD)
    assert r.code == 0, r.err


def test_flag_set_says_unset_as_flag_history_does(cli_env):
    env = staffed(cli_env)
    r = ol(env, "flag", "set", "live.enabled", "true", "--reason", "go", "--actor", OPERATOR)
    assert r.code == 0, r.err
    assert r.out.strip() == "live.enabled: unset -> true"
    history = ol(env, "flag", "history", "live.enabled")
    assert "unset -> true" in history.out and "None" not in r.out + history.out


def test_a_script_reads_live_enabled_as_a_json_boolean(cli_env):
    env = staffed(cli_env)
    ol(env, "flag", "set", "live.enabled", "on", "--reason", "go", "--actor", OPERATOR)
    r = ol(env, "flag", "get", "live.enabled", "--json")
    assert r.code == 0 and json.loads(r.out) == {"flag": "live.enabled", "value": True}
    assert ol(env, "flag", "get", "live.enabled").out == "true\n"
    ol(env, "flag", "set", "desk.mode", "Calm", "--reason", "quiet day", "--actor", OPERATOR)
    assert json.loads(ol(env, "flag", "get", "desk.mode", "--json").out)["value"] == "Calm"


def test_a_flag_never_set_is_no_value_and_exit_1(cli_env):
    env = staffed(cli_env)
    r = ol(env, "flag", "get", "live.enabled")
    assert (r.code, r.out) == (1, "")
    assert r.error_lines == ["live.enabled: never set (no change of it is recorded)"]
    r = ol(env, "flag", "get", "live.enabled", "--json")
    assert r.code == 1 and json.loads(r.out) == {"flag": "live.enabled", "value": None}
    assert "exits 1" in " ".join(ol(env, "flag", "get", "--help").out.split())


def test_ticket_show_says_what_flag_get_says(cli_env):
    env = staffed(cli_env)
    open_ticket(env)
    ol(env, "flag", "set", "live.enabled", "true", "--reason", "go", "--ticket", "CHG-2041",
       "--actor", OPERATOR)
    assert ol(env, "flag", "get", "live.enabled").out.strip() == "true"
    show = ol(env, "ticket", "show", "CHG-2041")
    line = next(x for x in show.out.splitlines() if x.strip().startswith("live.enabled"))
    assert "unknown" not in line
    assert line.split()[1] == "true"


# --- times and settings ---------------------------------------------------------------------


def test_since_takes_a_date_in_utc(cli_env):
    env = staffed(cli_env)
    r = ol(env, "incidents", "--since", "2026-12-01Z", "--json")
    assert r.code == 0, r.err
    r = ol(env, "incidents", "--since", "2026-12-01")
    assert r.code == 2 and "2026-12-01Z" in r.err  # says what is expected


def test_a_bad_database_url_option_is_named_as_the_option(tmp_path):
    r = ol({"OPSLEDGER_HOME": str(tmp_path)}, "--database-url", "mysql://x", "flag", "get",
           "live.enabled")
    assert r.code == 2
    assert r.error_lines == [
        "opsledger: error: --database-url: must be a postgresql://user@host:port/db URL"]
    r = ol({"OPSLEDGER_DATABASE_URL": "mysql://x"}, "flag", "get", "live.enabled")
    assert r.code == 2 and "OPSLEDGER_DATABASE_URL:" in r.err


@pytest.mark.postgres
def test_a_schema_that_does_not_exist_says_how_to_create_it(tmp_path):
    require_postgres()
    r = ol({"OPSLEDGER_DATABASE_URL": f"{PG_URL}?schema=no_such_schema_15"}, "flag", "get",
           "live.enabled")
    assert r.code == 3 and len(r.error_lines) == 1
    assert "CREATE SCHEMA no_such_schema_15" in r.err and "?schema=" in r.err


def test_reading_an_empty_folder_creates_nothing(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for argv in (["ticket", "list"], ["flag", "get", "live.enabled"], ["timeline", "CHG-1"],
                 ["ticket", "show", "CHG-1"], ["roster", "show"], ["projections", "status"]):
        r = ol({}, *argv)
        assert r.code == 3, argv
        assert r.error_lines[0].startswith("opsledger: error: no event store at "), argv
        assert list(tmp_path.iterdir()) == [], argv


def test_recording_into_a_mistyped_home_creates_nothing(tmp_path, monkeypatch):
    """An administrator issued a token from the wrong folder: the desk is not
    there, so nothing is recorded and no empty store is left behind to be
    mistaken for one later; only founding a desk creates a store."""
    monkeypatch.chdir(tmp_path)
    for argv in (["--actor", "desk.admin", "roster", "token", "issue", "bob.risk",
                  "--scope", "read"],
                 ["--actor", "dana.ops", "ticket", "open", "CHG-1", "--strategy", "momo-1",
                  "--env", "prod", "--artifact", "sha256:" + "a" * 64]):
        r = ol({}, *argv)
        assert r.code == 3, (argv, r.err)
        assert r.error_lines[0].startswith("opsledger: error: no event store at "), argv
        assert "roster init" in r.error_lines[0]
        assert list(tmp_path.iterdir()) == [], argv
    founded = ol({}, "--actor", "desk.admin", "roster", "init")
    assert founded.code == 0, founded.err
    assert (tmp_path / ".opsledger" / "events.sqlite").is_file()


def test_the_help_documents_every_setting_and_what_a_script_receives(cli_env):
    text = " ".join(ol(cli_env, "--help").out.split())
    for name in ("OPSLEDGER_HOME", "OPSLEDGER_DATABASE_URL", "OPSLEDGER_ACTOR",
                 "OPSLEDGER_IDENTITY", "OPSLEDGER_SIGNING_KEY", "OPSLEDGER_ARCHIVE_STORE",
                 "OPSLEDGER_S3_ENDPOINT", "OPSLEDGER_RETENTION_DAYS", "OPSLEDGER_CREATE_TABLE",
                 "OPSLEDGER_TICKET", "OPSLEDGER_RUN_ID", "OPSLEDGER_SESSION_DIR",
                 "OPSLEDGER_EFFECTIVE_ENV"):
        assert name in text, name
    run_help = " ".join(ol(cli_env, "run", "--help").out.split())
    for name in ("OPSLEDGER_TICKET", "OPSLEDGER_RUN_ID", "OPSLEDGER_SESSION_DIR",
                 "OPSLEDGER_EFFECTIVE_ENV", "opsledger flag set live.enabled", "FLAG MISMATCH"):
        assert name in run_help, name
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    for name in ("OPSLEDGER_CREATE_TABLE", "OPSLEDGER_SIGNING_KEY", "OPSLEDGER_RUN_ID",
                 "OPSLEDGER_SESSION_DIR", "OPSLEDGER_ARCHIVE_STORE"):
        assert name in readme, name


# --- scripts --------------------------------------------------------------------------------


def test_a_script_that_cannot_start_says_why(cli_env, tmp_path):
    env = staffed(cli_env)
    open_ticket(env)
    r = ol(env, "run", "CHG-2041", "validate", "--session-dir", str(tmp_path / "s"),
           "--actor", OPERATOR, "--", "tradepulse-cli-not-installed", "validate")
    assert r.code == 127
    line = next(x for x in r.error_lines if "failed-to-start" in x)
    assert "No such file or directory" in line and "tradepulse-cli-not-installed" in line


def test_after_a_downgraded_deploy_validate_is_told_staging_too(cli_env, tmp_path):
    env = staffed(cli_env)
    open_ticket(env)  # prod requested, no evidence: the deploy is downgraded
    session = tmp_path / "s"
    script = ["sh", "-c", 'echo "$@ effective=$OPSLEDGER_EFFECTIVE_ENV"', "sh", "--env", "prod"]
    r = ol(env, "run", "CHG-2041", "deploy", "--session-dir", str(session), "--actor", OPERATOR,
           "--", *script)
    assert r.code == 0 and "DOWNGRADED" in r.err
    r = ol(env, "run", "CHG-2041", "validate", "--session-dir", str(session), "--actor",
           OPERATOR, "--", *script)
    assert r.code == 0, r.err
    assert (session / "validation.log").read_text() == "--env staging effective=staging\n"


def test_a_flag_mismatch_says_the_script_sets_the_flag(cli_env, tmp_path):
    env = staffed(cli_env)
    open_ticket(env)
    r = ol(env, "run", "CHG-2041", "deploy", "--session-dir", str(tmp_path / "s"), "--actor",
           OPERATOR, "--", "true")
    line = next(x for x in r.error_lines if "FLAG MISMATCH" in x)
    assert "opsledger flag set live.enabled" in line and "--ticket CHG-2041" in line


# --- files ----------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["device", "fifo"])
def test_evidence_from_a_device_or_fifo_is_refused_at_once(cli_env, tmp_path, kind):
    env = staffed(cli_env)
    open_ticket(env)
    path = Path("/dev/zero")
    if kind == "fifo":
        path = tmp_path / "pipe"
        os.mkfifo(path)
    r = ol(env, "evidence", "attach", "CHG-2041", "risk-envelope", str(path), "--actor",
           "bob.risk")
    assert r.code == 2 and len(r.error_lines) == 1
    assert "not a regular file" in r.err


# --- one-line fields ------------------------------------------------------------------------

TRICKS = {"bidi override": "\u202e", "line separator": "\u2028", "next line": "\x85",
          "delete": "\x7f"}


@pytest.mark.parametrize("name", TRICKS)
def test_one_line_fields_refuse_invisible_and_reordering_characters(cli_env, name):
    env = staffed(cli_env)
    trick = TRICKS[name]
    r = ol(env, "ticket", "open", "CHG-2041", "--strategy", "momo-1", "--artifact", ARTIFACT,
           "--title", f"promote {trick}1-omom", "--actor", DEV_LEAD)
    assert r.code == 2 and f"U+{ord(trick):04X}" in r.err and len(r.error_lines) == 1
    open_ticket(env)
    for argv in (["flag", "set", "live.enabled", "true", "--reason", f"go{trick}", "--actor",
                  OPERATOR],
                 ["approve", "CHG-2041", "change-ticket", "--reference", f"CAB-1{trick}",
                  "--actor", RELEASE_MANAGER],
                 ["shift", "step", "comms-walked", "--note", f"ok{trick}", "--actor",
                  OPERATOR]):
        r = ol(env, *argv)
        assert r.code == 2, (argv, r.err)
        assert f"U+{ord(trick):04X}" in r.err and len(r.error_lines) == 1
    assert trick not in ol(env, "timeline", "CHG-2041").out


# --- archives and the ledger ----------------------------------------------------------------


def test_an_archive_file_named_like_a_key_is_the_file(cli_env, tmp_path, monkeypatch):
    env = staffed(cli_env)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "CHG-1").write_bytes(b"not an archive")
    r = ol(env, "archive", "verify", "CHG-1")
    assert "no archive of this session" not in r.err and "CHG-1: no such" not in r.err
    assert r.code in (1, 2) and "CHG-1" in r.out + r.err  # the file was read, and failed
    r2 = ol(env, "archive", "verify", "./CHG-1")
    assert r2.code == r.code


def test_a_position_beyond_any_log_is_a_usage_error(cli_env):
    env = staffed(cli_env)
    r = ol(env, "ledger", "proof", "--position", str(10**30))
    assert r.code == 2 and "--position" in r.err


def test_build_and_verify_count_the_same_payload_files(tmp_path, opsledger_exe):
    """Build said 13 files where verify said 26: both now name what they count."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("OPSLEDGER_")}
    done = subprocess.run([*opsledger_exe, "demo", "--dir", str(tmp_path / "d"), "--no-archive"],
                          cwd=tmp_path, env=clean, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    env = {"OPSLEDGER_HOME": str(tmp_path / "d" / ".opsledger"),
           "OPSLEDGER_IDENTITY": str(tmp_path / "d" / "keys" / "alice.rm")}
    session_dir = next((tmp_path / "d" / "reports" / "live").iterdir()) / "CHG-2041"
    # the desk's log key: without it verify checks integrity only (exit 3)
    assert ol(env, "keys", "init").code == 0
    built = ol(env, "archive", "build", "CHG-2041", "--session-dir", str(session_dir))
    assert built.code == 0, built.err
    payload = sorted(p for p in session_dir.rglob("*") if p.is_file())
    assert f"{len(payload)} payload files" in built.out
    verified = ol(env, "archive", "verify", "CHG-2041")
    assert verified.code == 0, verified.err
    assert f"({len(payload)} payload files; " in verified.out
    assert "in the bag with its tag files" in verified.out
