"""`opsledger witness init|serve`: a C2SP tlog-witness another team runs.

The use cases are in `opsledger.services.witness`."""

from __future__ import annotations

from pathlib import Path

import click
from opsledger.cli.options import json_option
from opsledger.cli.output import emit, note
from opsledger.services.witness import init_witness, open_witness, serve_witness

_key_option = click.option(
    "--key", "key_file", required=True, type=click.Path(dir_okay=False, path_type=Path),
    help="The witness's private key file (from 'opsledger witness init').",
)


@click.group("witness")
def witness_group() -> None:
    """A witness: cosigns a log's checkpoints only if consistent with what it cosigned before."""


@witness_group.command("init")
@_key_option
@click.option("--name", required=True, help="The witness's key name, e.g. compliance.example/w1.")
@json_option
def init(key_file: Path, name: str, json_output: bool) -> None:
    """Create the witness's Ed25519 key (owner-only) and print its verifier key
    (type 0x04), the line logs and auditors configure. Never replaces a key."""
    key = init_witness(key_file, name)
    emit({"key_file": str(key.key_file), "name": key.name, "verifier_key": key.verifier_key},
         json_output=json_output, human=lambda: key.verifier_key)
    if not json_output:
        note(f"opsledger: witness key written to {key.key_file} (mode 600); publish the line above")


@witness_group.command("serve")
@_key_option
@click.option("--state", "state_dir", required=True,
              type=click.Path(file_okay=False, path_type=Path),
              help="The witness's own folder: the latest checkpoint it cosigned, per log.")
@click.option("--log", "logs", multiple=True, required=True, metavar="ORIGIN=VERIFIERKEY",
              help="A log it witnesses and the log's checkpoint key; repeatable.")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=0, type=click.IntRange(0, 65535),
              help="Port to listen on [default: any free port, printed on start].")
def serve(key_file: Path, state_dir: Path, logs: tuple[str, ...], host: str, port: int) -> None:
    """Serve POST /add-checkpoint (C2SP tlog-witness) until SIGINT or SIGTERM.

    Each request is logged on stderr with its answer: 200 cosigned, 409 old
    size or a fork, 422 an inconsistent proof, 403 an untrusted key, 404 an
    unknown log, 400 a malformed request."""
    witness = open_witness(key_file, state_dir, logs, notify=note)
    serve_witness(witness, host, port, notify=note)


def register(cli: click.Group) -> None:
    cli.add_command(witness_group)
