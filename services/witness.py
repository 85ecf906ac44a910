"""Running a witness: the C2SP tlog-witness `add-checkpoint` call, served.

A witness is run by another team, in its own trust domain (compliance, say):
its key, its state folder and the log keys it trusts are its own. It cosigns
a log's checkpoint only if that checkpoint is consistent with the latest one
it cosigned for the log, so a log operator who rewrites history cannot get
the rewritten tree cosigned by it.

`Witness.add_checkpoint` takes the request body and returns a `WitnessReply`
of plain values; the HTTP binding (adapters.witness_http) only moves bytes, so
another front end (the later HTTP service) can call the same method.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from opsledger.adapters.signing_keys import (
    Ed25519Verifier,
    SigningKeyError,
    create_key,
    load_cosigner,
)
from opsledger.adapters.witness_http import make_server, serve_until_signalled
from opsledger.adapters.witness_state import WitnessStateDir, WitnessStateError
from opsledger.domain.checkpoint import (
    Checkpoint,
    CheckpointError,
    SignatureVerifier,
    Signer,
    split_note,
)
from opsledger.domain.cosignature import add_signatures, cosign
from opsledger.domain.witness import (
    TEXT,
    Accepted,
    AddCheckpoint,
    Latest,
    MalformedRequest,
    decide,
    parse_request,
)
from opsledger.services.errors import InvalidRequest, Refused

if TYPE_CHECKING:
    from http.server import ThreadingHTTPServer

Notify = Callable[[str], None]


def _silent(_: str) -> None:
    pass


@dataclass(frozen=True)
class WitnessReply:
    status: int
    content_type: str
    body: bytes
    reason: str  # one line for the witness's own log


@dataclass(frozen=True)
class WitnessKey:
    key_file: Path
    name: str
    verifier_key: str


class Witness:
    def __init__(
        self,
        signer: Signer,
        logs: dict[str, Sequence[SignatureVerifier]],
        state: WitnessStateDir,
        *,
        clock: Callable[[], float] = time.time,
        notify: Notify = _silent,
    ) -> None:
        self.signer = signer
        self.logs = logs
        self.state = state
        self.clock = clock
        self.notify = notify

    @property
    def name(self) -> str:
        return self.signer.name

    def add_checkpoint(self, body: bytes) -> WitnessReply:
        try:
            request = parse_request(body)
        except MalformedRequest as e:
            return self._log(WitnessReply(400, TEXT, f"{e}\n".encode(), f"400 malformed: {e}"))
        try:
            return self._add(request)
        except WitnessStateError as e:  # nothing cosigned: the state could not be kept
            return self._log(WitnessReply(500, TEXT, b"the witness cannot keep its state\n",
                                          f"500 state: {e}"))

    def _add(self, request: AddCheckpoint) -> WitnessReply:
        origin = _origin_of(request.note)
        # Checking the old size and persisting the new checkpoint are one step.
        with self.state.locked():
            latest = {}
            if origin is not None and origin in self.logs:
                stored = self._latest(origin)
                if stored is not None:
                    latest[origin] = stored
            outcome = decide(request, self.logs, latest)
            if not isinstance(outcome, Accepted):
                return self._log(WitnessReply(outcome.status, outcome.content_type, outcome.body,
                                              f"{outcome.status} {origin!r}: {outcome.reason}"))
            line = cosign(outcome.note_text, self.signer, int(self.clock()))
            self.state.save(origin or "", add_signatures(request.note, [line]))
        checkpoint = outcome.checkpoint
        return self._log(WitnessReply(200, TEXT, line.to_line().encode("utf-8"),
                                      f"200 {checkpoint.origin!r}: cosigned tree {checkpoint.size}"))

    def handle(self, body: bytes) -> tuple[int, str, bytes]:
        """The HTTP binding's handler: plain values in and out."""
        reply = self.add_checkpoint(body)
        return reply.status, reply.content_type, reply.body

    def _latest(self, origin: str) -> Latest | None:
        note = self.state.load(origin)
        if note is None:
            return None
        try:
            text, _ = split_note(note)
            checkpoint = Checkpoint.from_text(text)
        except CheckpointError as e:
            raise WitnessStateError(f"the stored checkpoint of {origin!r} is unreadable: {e}") from None
        return Latest(checkpoint.size, checkpoint.root_hash)

    def _log(self, reply: WitnessReply) -> WitnessReply:
        self.notify(f"opsledger witness: {reply.reason}")
        return reply


def _origin_of(note: str) -> str | None:
    try:
        text, _ = split_note(note)
        return Checkpoint.from_text(text).origin
    except CheckpointError:
        return None


def split_key_assignment(value: str, what: str) -> tuple[str, str]:
    """`LEFT=VERIFIERKEY`: split at the first '=' after which a verifier key
    parses (a URL or an origin may hold '=' too)."""
    at = value.find("=")
    while at > 0:
        left, right = value[:at], value[at + 1 :]
        if right.count("+") >= 2:
            return left, right
        at = value.find("=", at + 1)
    raise InvalidRequest(f"{what} {value!r}: expected NAME=VERIFIERKEY")


def log_keys(assignments: Sequence[str]) -> dict[str, list[SignatureVerifier]]:
    """`--log ORIGIN=VERIFIERKEY`, repeatable (several keys per origin: rotation)."""
    logs: dict[str, list[SignatureVerifier]] = {}
    for value in assignments:
        origin, vkey = split_key_assignment(value, "--log")
        try:
            logs.setdefault(origin, []).append(Ed25519Verifier.from_verifier_key(vkey))
        except SigningKeyError as e:
            raise InvalidRequest(f"--log {origin}: {e}") from None
    return logs


def init_witness(key_file: Path, name: str) -> WitnessKey:
    """Creates the witness's cosigning key (never replacing one)."""
    try:
        created = create_key(key_file, name, witness=True)
    except SigningKeyError as e:
        raise Refused(str(e)) from None
    except CheckpointError as e:
        raise InvalidRequest(f"--name {name!r}: {e}") from None
    return WitnessKey(key_file, created.name, created.verifier_key)


def open_witness(key_file: Path, state_dir: Path, logs: Sequence[str], *,
                 clock: Callable[[], float] = time.time, notify: Notify = _silent) -> Witness:
    if not logs:
        raise InvalidRequest("a witness needs at least one --log ORIGIN=VERIFIERKEY")
    trusted = log_keys(logs)
    try:
        signer = load_cosigner(key_file)
    except SigningKeyError as e:
        raise InvalidRequest(f"--key: {e}") from None
    try:
        state = WitnessStateDir(state_dir)
    except WitnessStateError as e:
        raise InvalidRequest(f"--state: {e}") from None
    return Witness(signer, dict(trusted), state, clock=clock, notify=notify)


def witness_server(witness: Witness, host: str = "127.0.0.1", port: int = 0) -> ThreadingHTTPServer:
    """The witness bound to (host, port), not yet serving (port 0: any free port)."""
    try:
        return make_server(host, port, witness.handle)
    except OSError as e:
        raise Refused(f"cannot listen on {host}:{port}: {e.strerror or e}") from None


def serve_witness(witness: Witness, host: str = "127.0.0.1", port: int = 0, *,
                  notify: Notify = _silent) -> None:
    """Serves until SIGINT/SIGTERM; says where it listens first."""
    server = witness_server(witness, host, port)
    bound_host, bound_port = server.server_address[:2]
    notify(f"opsledger witness {witness.name}: listening on http://{bound_host}:{bound_port}/ "
           f"for {len(witness.logs)} log(s)")
    serve_until_signalled(server)
    notify(f"opsledger witness {witness.name}: stopped")
