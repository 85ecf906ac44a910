"""Append-only event tables: harden a PostgreSQL event store, check any store.

PostgreSQL: an administrator connection makes the event tables append-only
for the application's role, twice over. Grants: the role may SELECT and
INSERT, and use the notification sequence, nothing more; except that
PostgreSQL 15/16 let only a holder of UPDATE, DELETE or TRUNCATE take the
EXCLUSIVE lock eventsourcing takes on every append (it keeps commit order
equal to notification order, so a reader never passes over a gap that fills
later), so the role also gets TRUNCATE there; MAINTAIN from PostgreSQL 17 on.
Triggers: BEFORE UPDATE and BEFORE DELETE row triggers and a BEFORE TRUNCATE
statement trigger raise, ENABLED ALWAYS so that even session_replication_role
cannot skip them; they stop any role that is not the tables' owner, whatever
its grants. The tables stay owned by the administrator: an owner could drop
the triggers.

Only the event tables are hardened. The view store's tables (the read
models, their tracking table, the ledger's tree, checkpoints and seals) are
rebuildable from the events or signed, and are updated in place by design: the
administrator owns them too, and the role gets SELECT, INSERT, UPDATE and
DELETE on each, nothing more (no DDL, no TRIGGER), and the same on the tables
the administrator creates in the schema later (a rebuild's new tables), by a
default privilege. The role never needs CREATE: a read catches the views up
in rows that exist.

The SQL runs through the eventsourcing datastore's own connection pool, so
no module of `cli/` imports a driver. SQLite has no roles: the embedded store
is only as append-only as its file's permissions, which
`adapters/sqlite_file_check.py` reports.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager
from dataclasses import asdict, dataclass, field
from typing import Any

from eventsourcing.persistence import OperationalError, PersistenceError

PLAIN_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")
FUNCTION = "opsledger_refuse_change"
TRIGGERS = {  # operation -> trigger name
    "UPDATE": "opsledger_no_update",
    "DELETE": "opsledger_no_delete",
    "TRUNCATE": "opsledger_no_truncate",
}
# pg_trigger.tgtype bits
_ROW, _BEFORE, _DELETE, _UPDATE, _TRUNCATE = 1, 2, 8, 16, 32
_OP_BIT = {"UPDATE": _UPDATE, "DELETE": _DELETE, "TRUNCATE": _TRUNCATE}
# The body is compared on check: a replaced function that lets rows through is not hardened.
FUNCTION_BODY = (
    "BEGIN RAISE EXCEPTION USING ERRCODE = 'insufficient_privilege', "
    "MESSAGE = format('%I.%I is append-only: %s refused', TG_TABLE_SCHEMA, TG_TABLE_NAME, TG_OP); "
    "END"
)
APPEND = ("SELECT", "INSERT")
CHANGE = ("UPDATE", "DELETE", "TRUNCATE", "TRIGGER")
VIEW_RIGHTS = ("SELECT", "INSERT", "UPDATE", "DELETE")  # catch-up, ledger, seals


class HardeningError(Exception):
    """Hardening could not be done or checked; the message is one line."""


class InvalidRole(HardeningError):
    """The application role named cannot be made append-only (bad name, superuser, owner)."""


@dataclass(frozen=True)
class RoleState:
    name: str
    exists: bool
    login: bool = False
    superuser: bool = False


@dataclass(frozen=True)
class TableState:
    table: str
    exists: bool
    owner: str | None = None
    privileges: list[str] = field(default_factory=list)
    sequences: dict[str, list[str]] = field(default_factory=dict)
    triggers: dict[str, bool] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)

    @property
    def hardened(self) -> bool:
        return not self.problems


@dataclass(frozen=True)
class ViewTableState:  # a view-store table: what the role may do with its rows
    table: str
    exists: bool
    privileges: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class HardeningReport:
    schema: str
    role: RoleState
    lock_privilege: str
    tables: list[TableState]
    problems: list[str] = field(default_factory=list)
    views: list[ViewTableState] = field(default_factory=list)

    @property
    def hardened(self) -> bool:
        """Append-only events, and views the role can use: both are the deployment."""
        return (not self.problems and all(t.hardened for t in self.tables)
                and not any(v.problems for v in self.views))

    def as_document(self) -> dict[str, Any]:
        return {
            "backend": "postgresql",
            "schema": self.schema,
            "hardened": self.hardened,
            "role": asdict(self.role),
            "lock_privilege": self.lock_privilege,
            "problems": self.problems,
            "tables": [{**asdict(t), "hardened": t.hardened} for t in self.tables],
            "views": [asdict(v) for v in self.views],
        }


def ident(name: str) -> str:
    """A validated plain name, quoted as an SQL identifier."""
    if not PLAIN_NAME.fullmatch(name):
        raise InvalidRole(f"{name!r} is not a plain lowercase SQL name")
    return f'"{name}"'


Transaction = Callable[[], AbstractContextManager[Any]]


class PostgresHardening:
    """Hardens and checks the event tables `tables` of `schema`, and grants the
    role the rows of the view-store tables `views`.

    `transaction()` opens one committed transaction and yields a DB-API cursor
    (eventsourcing's `PostgresDatastore.transaction(commit=True)`).
    """

    def __init__(
        self, transaction: Transaction, *, schema: str, tables: Sequence[str],
        views: Sequence[str] = (),
    ) -> None:
        self._transaction = transaction
        self.schema = schema
        self.tables = list(tables)
        self.views = list(views)
        ident(schema)
        for table in (*self.tables, *self.views):
            ident(table)

    @classmethod
    def of_application(cls, app: Any, views: Sequence[str] = ()) -> PostgresHardening:
        """The event tables of an eventsourcing application on PostgreSQL, and
        the view-store tables `views` beside them in its schema."""
        recorders = [app.recorder]
        if getattr(app, "snapshots", None) is not None:
            recorders.append(app.snapshots.recorder)
        datastore = app.recorder.datastore
        return cls(
            lambda: datastore.transaction(commit=True),
            schema=datastore.schema,
            tables=[r.events_table_name for r in recorders],
            views=views,
        )

    # --- harden -----------------------------------------------------------------------

    def harden(self, role: str, *, login: bool = False) -> HardeningReport:
        """Makes the event tables append-only for `role`, in one transaction.

        A missing role is created NOLOGIN (or LOGIN without a password with
        `login`); an existing role's attributes are never changed.
        """
        quoted_role = ident(role)
        with self._run("harden") as cur:
            schema = ident(self.schema)
            cur.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (f"opsledger.harden.{self.schema}",))
            admin = _one(cur, "SELECT current_user AS name")["name"]
            if admin == role:
                raise InvalidRole(
                    f"{role}: the URL's user must be an administrator, not the application role"
                )
            state = _role(cur, role)
            if not state.exists:
                cur.execute(f"CREATE ROLE {quoted_role} {'LOGIN' if login else 'NOLOGIN'}")
            elif state.superuser:
                raise InvalidRole(f"{role} is a superuser: no grant or trigger can hold it")
            lock = _lock_privilege(cur)
            cur.execute(
                f"CREATE OR REPLACE FUNCTION {schema}.{FUNCTION}() RETURNS trigger "
                f"LANGUAGE plpgsql SET search_path = pg_catalog AS $body${FUNCTION_BODY}$body$"
            )
            cur.execute(f"GRANT USAGE ON SCHEMA {schema} TO {quoted_role}")
            for name in self.tables:
                table = f"{schema}.{ident(name)}"
                owner = _owner(cur, self.schema, name)
                if owner is None:
                    raise HardeningError(f"{self.schema}.{name}: no such table")
                if _is_member(cur, role, owner):
                    raise InvalidRole(
                        f"{role} owns {self.schema}.{name} (or may act as its owner {owner}): "
                        "an owner can drop the triggers; use a role that owns nothing"
                    )
                for op, trigger in TRIGGERS.items():
                    level = "ROW" if op != "TRUNCATE" else "STATEMENT"
                    cur.execute(f'DROP TRIGGER IF EXISTS "{trigger}" ON {table}')
                    cur.execute(
                        f'CREATE TRIGGER "{trigger}" BEFORE {op} ON {table} '
                        f"FOR EACH {level} EXECUTE FUNCTION {schema}.{FUNCTION}()"
                    )
                    cur.execute(f'ALTER TABLE {table} ENABLE ALWAYS TRIGGER "{trigger}"')
                cur.execute(f"REVOKE ALL ON TABLE {table} FROM {quoted_role}")
                cur.execute(f"REVOKE {', '.join(CHANGE)} ON TABLE {table} FROM PUBLIC")
                cur.execute(f"GRANT {', '.join(APPEND)}, {lock} ON TABLE {table} TO {quoted_role}")
                for sequence in _sequences(cur, self.schema, name):
                    qualified = f"{schema}.{ident(sequence)}"
                    cur.execute(f"REVOKE ALL ON SEQUENCE {qualified} FROM {quoted_role}")
                    cur.execute(f"REVOKE UPDATE ON SEQUENCE {qualified} FROM PUBLIC")
                    cur.execute(f"GRANT USAGE ON SEQUENCE {qualified} TO {quoted_role}")
            self._grant_views(cur, schema, quoted_role)
        return self.check(role)

    def _grant_views(self, cur: Any, schema: str, quoted_role: str) -> None:
        rights = ", ".join(VIEW_RIGHTS)
        for name in self.views:
            if _owner(cur, self.schema, name) is None:
                raise HardeningError(f"{self.schema}.{name}: no such table")
            table = f"{schema}.{ident(name)}"
            cur.execute(f"REVOKE ALL ON TABLE {table} FROM {quoted_role}")
            cur.execute(f"GRANT {rights} ON TABLE {table} TO {quoted_role}")
        if self.views:
            # A rebuild by the administrator swaps in new tables: they come with the rights.
            cur.execute(
                f"ALTER DEFAULT PRIVILEGES IN SCHEMA {schema} GRANT {rights} ON TABLES TO {quoted_role}"
            )

    # --- check ------------------------------------------------------------------------

    def check(self, role: str) -> HardeningReport:
        """Reports, per event table, what `role` may do and which triggers guard it."""
        ident(role)
        with self._run("check") as cur:
            state = _role(cur, role)
            lock = _lock_privilege(cur)
            problems: list[str] = []
            if not state.exists:
                problems.append(f"role {role} does not exist")
            elif state.superuser:
                problems.append(f"role {role} is a superuser: it bypasses grants and may drop triggers")
            tables = [self._check_table(cur, role, state, name, lock) for name in self.tables]
            views = [self._check_view(cur, role, state, name) for name in self.views]
        return HardeningReport(self.schema, state, lock, tables, problems, views)

    def _check_view(self, cur: Any, role: str, state: RoleState, name: str) -> ViewTableState:
        qualified = f"{self.schema}.{name}"
        if _owner(cur, self.schema, name) is None:
            return ViewTableState(qualified, False, problems=[
                f"{qualified} does not exist: reads would fail ('opsledger db harden' creates it)"])
        if not state.exists:
            return ViewTableState(qualified, True)
        privileges = [p for p in VIEW_RIGHTS if _has(cur, "table", role, qualified, p)]
        problems = [f"{role} may not {p}: reads would fail ('opsledger db harden' grants it)"
                    for p in VIEW_RIGHTS if p not in privileges]
        return ViewTableState(qualified, True, privileges, problems)

    def _check_table(
        self, cur: Any, role: str, state: RoleState, name: str, lock: str
    ) -> TableState:
        qualified = f"{self.schema}.{name}"
        owner = _owner(cur, self.schema, name)
        if owner is None:
            return TableState(qualified, exists=False, problems=[f"{qualified} does not exist"])
        triggers = _triggers(cur, self.schema, name)
        problems = [
            f"no enabled-always BEFORE {op} trigger refusing it" for op, ok in triggers.items() if not ok
        ]
        privileges: list[str] = []
        sequences: dict[str, list[str]] = {}
        if state.exists:
            if _is_member(cur, role, owner):
                problems.append(f"{role} may act as the owner {owner} and drop the triggers")
            checked = [*APPEND, *CHANGE] + ([lock] if lock not in CHANGE else [])
            privileges = [p for p in checked if _has(cur, "table", role, qualified, p)]
            problems += [f"{role} may {p}" for p in privileges if p in CHANGE and p != lock]
            problems += [f"{role} may not {p}: appends would fail" for p in (*APPEND, lock)
                         if p not in privileges]
            for sequence in _sequences(cur, self.schema, name):
                seq = f"{self.schema}.{sequence}"
                granted = [p for p in ("USAGE", "UPDATE") if _has(cur, "sequence", role, seq, p)]
                sequences[seq] = granted
                if "UPDATE" in granted:
                    problems.append(f"{role} may setval {seq}")
                if "USAGE" not in granted:
                    problems.append(f"{role} may not use {seq}: appends would fail")
        return TableState(qualified, True, owner, privileges, sequences, triggers, problems)

    # --- plumbing -----------------------------------------------------------------------

    def _run(self, what: str) -> AbstractContextManager[Any]:
        return _translated(self._transaction, what)


class _translated(AbstractContextManager[Any]):
    """A transaction whose database refusals become HardeningError; an
    unreachable server stays the eventsourcing OperationalError it is."""

    def __init__(self, transaction: Transaction, what: str) -> None:
        self._manager = transaction()
        self._what = what

    def __enter__(self) -> Any:
        return self._manager.__enter__()

    def __exit__(self, kind: Any, error: Any, tb: Any) -> bool:
        try:
            self._manager.__exit__(kind, error, tb)
        except OperationalError:
            raise
        except PersistenceError as e:
            raise HardeningError(f"{self._what}: {_line(e)}") from None
        if isinstance(error, PersistenceError) and not isinstance(error, OperationalError):
            raise HardeningError(f"{self._what}: {_line(error)}") from None
        return False


def _rows(cur: Any) -> Iterator[dict[str, Any]]:
    names = [c.name if hasattr(c, "name") else c[0] for c in cur.description or ()]
    for row in cur.fetchall():
        yield row if isinstance(row, dict) else dict(zip(names, row, strict=True))


def _one(cur: Any, query: str, params: Sequence[Any] = ()) -> dict[str, Any]:
    cur.execute(query, params or None)
    return next(_rows(cur))


def _role(cur: Any, role: str) -> RoleState:
    cur.execute("SELECT rolcanlogin, rolsuper FROM pg_roles WHERE rolname = %s", (role,))
    found = list(_rows(cur))
    if not found:
        return RoleState(role, exists=False)
    return RoleState(role, True, found[0]["rolcanlogin"], found[0]["rolsuper"])


def _lock_privilege(cur: Any) -> str:
    version = int(_one(cur, "SELECT current_setting('server_version_num') AS v")["v"])
    return "MAINTAIN" if version >= 170000 else "TRUNCATE"


def _owner(cur: Any, schema: str, table: str) -> str | None:
    cur.execute(
        "SELECT pg_get_userbyid(c.relowner) AS owner FROM pg_class c "
        "JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE n.nspname = %s AND c.relname = %s AND c.relkind IN ('r', 'p')",
        (schema, table),
    )
    found = list(_rows(cur))
    return found[0]["owner"] if found else None


def _is_member(cur: Any, role: str, owner: str) -> bool:
    return bool(_one(cur, "SELECT pg_has_role(%s, %s, 'MEMBER') AS m", (role, owner))["m"])


def _has(cur: Any, kind: str, role: str, qualified: str, privilege: str) -> bool:
    function = {"table": "has_table_privilege", "sequence": "has_sequence_privilege"}[kind]
    return bool(_one(cur, f"SELECT {function}(%s, %s, %s) AS ok", (role, qualified, privilege))["ok"])


def _sequences(cur: Any, schema: str, table: str) -> list[str]:
    """Sequences owned by the table's columns (the notification id's bigserial)."""
    cur.execute(
        "SELECT s.relname AS name FROM pg_class s "
        "JOIN pg_depend d ON d.objid = s.oid AND d.classid = 'pg_class'::regclass "
        "JOIN pg_class t ON t.oid = d.refobjid JOIN pg_namespace n ON n.oid = t.relnamespace "
        "WHERE s.relkind = 'S' AND d.deptype IN ('a', 'i') AND n.nspname = %s AND t.relname = %s "
        "ORDER BY s.relname",
        (schema, table),
    )
    return [r["name"] for r in _rows(cur)]


def _triggers(cur: Any, schema: str, table: str) -> dict[str, bool]:
    """Per operation: is it refused by an enabled-always BEFORE trigger running our function
    with its original body?"""
    cur.execute(
        "SELECT t.tgtype, t.tgenabled, p.prosrc FROM pg_trigger t "
        "JOIN pg_class c ON c.oid = t.tgrelid JOIN pg_namespace n ON n.oid = c.relnamespace "
        "JOIN pg_proc p ON p.oid = t.tgfoid JOIN pg_namespace pn ON pn.oid = p.pronamespace "
        "WHERE n.nspname = %s AND c.relname = %s AND NOT t.tgisinternal "
        "AND p.proname = %s AND pn.nspname = %s",
        (schema, table, FUNCTION, schema),
    )
    found = list(_rows(cur))
    state = {}
    for op, bit in _OP_BIT.items():
        level = 0 if op == "TRUNCATE" else _ROW
        state[op] = any(
            r["tgtype"] & bit
            and r["tgtype"] & _BEFORE
            and (r["tgtype"] & _ROW) == level
            and str(r["tgenabled"]) == "A"
            and r["prosrc"] == FUNCTION_BODY
            for r in found
        )
    return state


def _line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return text[0] if text else type(error).__name__
