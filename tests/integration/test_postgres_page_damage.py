"""A PostgreSQL page damaged on disk, under a shared server that may not be restarted.

The difficulty is the buffer cache: a page damaged in its file is not seen by
a connection that finds the page in shared_buffers, and PostgreSQL 15 cannot
evict one page (pg_buffercache_evict is PostgreSQL 17's). Filling the cache
with a throwaway table does not work either: a sequential scan of a table
larger than a quarter of shared_buffers reads through a 256 KiB ring and
evicts nothing, and smaller ones must be read over and over until the clock
sweep has taken the usage count of the page down to zero, slowing everyone's
tests and still not certain while others work on the server.

What is certain: `CREATE DATABASE ... STRATEGY FILE_COPY` (PostgreSQL 15)
copies a template's files on disk, after a checkpoint, without reading them
through shared_buffers. The desk's store is recorded in a throwaway template
database, copied so, and the copy's events table is damaged before anything
reads it; pg_buffercache shows none of its pages cached at that moment. The
first read of the page by `ledger verify` then comes from disk.

Two kinds of damage, both safe for a shared server (no backend crash):
- garbage over a page header: PostgreSQL itself refuses the page ("invalid
  page in block 0", SQLSTATE XX001): one line, DAMAGED, exit 1;
- bytes overwritten in the middle of the page, inside one event's stored
  bytes: without data checksums (this server has none) PostgreSQL reads them
  without complaint, and it is the ledger that catches them: the event no
  longer hashes to its leaf, TAMPERED (altered at its position), exit 1.
Neither prints a traceback, and neither says OK.
"""

from __future__ import annotations

import struct
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from clirunner import invoke, staff
from conftest import PG_DSN, require_postgres
from opsledger.domain.application import OpsLedger
from opsledger.services.settings import Settings
from story import approve_all, attach_all, open_ticket

pytestmark = pytest.mark.postgres

BLOCK = 8192
SCHEMA = "desk"
EVENTS = "opsledger_events"


def _admin(sql: str, *params: object, dbname: str = "test") -> list[tuple]:
    import psycopg

    with psycopg.connect(PG_DSN.replace("dbname=test", f"dbname={dbname}"),
                         autocommit=True) as conn:
        cur = conn.execute(sql, params or None)
        return cur.fetchall() if cur.description else []


def _url(dbname: str) -> str:
    return f"postgresql://postgres@127.0.0.1:5432/{dbname}?schema={SCHEMA}"


@pytest.fixture
def template(tmp_path: Path) -> Iterator[dict]:
    """A throwaway database holding a desk's store: three tickets' events, the
    views and ledger caught up, a checkpoint published to a folder."""
    require_postgres()
    name = f"t_page_{uuid.uuid4().hex[:12]}"
    _admin(f'create database "{name}"')
    copies: list[str] = []
    try:
        _admin(f'create schema "{SCHEMA}"', dbname=name)
        env = {"OPSLEDGER_HOME": str(tmp_path / "home"), "OPSLEDGER_ACTOR": "alice.rm",
               "OPSLEDGER_DATABASE_URL": _url(name)}
        staff(env)
        app = OpsLedger(env=Settings.from_env(environ=env).event_store_env())
        for key in ("CHG-2041", "CHG-2042", "CHG-2043"):
            open_ticket(app, key)
            attach_all(app, key)
            approve_all(app, key)
        app.close()
        assert invoke(["keys", "init"], env).code == 0
        published = tmp_path / "published"
        assert invoke(["ledger", "checkpoint", "--publish", str(published)], env).code == 0
        assert invoke(["ticket", "show", "CHG-2041"], env).code == 0  # views caught up
        yield {"name": name, "env": env, "published": str(published), "copies": copies}
    finally:
        for db in [*copies, name]:
            _admin(f'drop database if exists "{db}" with (force)')


def _cold_copy(template: dict) -> tuple[str, Path]:
    """A copy of the template made on disk, none of its pages ever cached;
    (its name, its events table's first file)."""
    name = f"{template['name']}_c{len(template['copies'])}"
    _admin("checkpoint")
    _admin(f'create database "{name}" template "{template["name"]}" strategy file_copy')
    template["copies"].append(name)
    (relative, node), = _admin(
        "select pg_relation_filepath(%s::regclass), pg_relation_filenode(%s::regclass)",
        f"{SCHEMA}.{EVENTS}", f"{SCHEMA}.{EVENTS}", dbname=name)
    (data_dir,), = _admin("show data_directory")
    path = Path(data_dir) / relative
    _admin("create extension if not exists pg_buffercache")
    (cached,), = _admin(
        "select count(*) from pg_buffercache b join pg_database d on b.reldatabase = d.oid "
        "where d.datname = %s and b.relfilenode = %s", name, node)
    assert cached == 0, "the copy's events pages are in shared_buffers: the damage would be unseen"
    return name, path


def _tuples(page: bytes) -> list[tuple[int, int]]:
    """(offset, length) of each normal line pointer's tuple on a heap page."""
    lower = struct.unpack_from("<H", page, 12)[0]
    found = []
    for at in range(24, lower, 4):
        (word,) = struct.unpack_from("<I", page, at)
        offset, flags, length = word & 0x7FFF, (word >> 15) & 0x3, word >> 17
        if flags == 1 and length:
            found.append((offset, length))
    return found


def _verify(template: dict, dbname: str):
    env = {k: v for k, v in template["env"].items() if k != "OPSLEDGER_DATABASE_URL"}
    return invoke(["--database-url", _url(dbname), "ledger", "verify", "--published",
                   template["published"]], env)


def test_a_cold_copy_of_a_sound_store_verifies(template):
    name, _ = _cold_copy(template)
    result = _verify(template, name)
    assert result.code == 0, result.out + result.err


def test_garbage_over_a_page_header_is_a_damaged_store(template):
    name, path = _cold_copy(template)
    with path.open("r+b") as f:
        f.seek(8)  # pd_checksum, pd_flags, pd_lower, pd_upper, pd_special: nonsense
        f.write(b"\xff\x7f\xff\x7f\x01\x00\xff\xff\xfe\xff")
    result = _verify(template, name)
    assert result.code == 1, result.out + result.err
    assert result.out.startswith("ledger: DAMAGED store") and len(result.out.splitlines()) == 1
    assert "invalid page in block 0" in result.out
    assert "Traceback" not in result.out + result.err and "OK" not in result.out


def test_bytes_overwritten_mid_page_inside_an_event_are_caught_as_altered(template):
    name, path = _cold_copy(template)
    data = path.read_bytes()
    assert len(data) >= BLOCK
    page = data[:BLOCK]
    offset, length = min(_tuples(page), key=lambda t: abs(t[0] - BLOCK // 2))  # mid-page
    tuple_bytes = page[offset:offset + length]
    start = tuple_bytes.find(b'{"')  # the event's stored JSON, well past the tuple's header
    assert start > 0, "no JSON state found in the tuple"
    at = offset + start + 24
    with path.open("r+b") as f:
        f.seek(at)
        f.write(b"#" * 8)
    result = _verify(template, name)
    assert result.code == 1, result.out + result.err
    assert "TAMPERED" in result.out and "altered position" in result.out
    assert "Traceback" not in result.out + result.err
