"""`opsledger keys init|show|rotate`: the checkpoint signing key."""

from __future__ import annotations

from pathlib import Path

import click
from opsledger.cli.options import key_file_option
from opsledger.cli.output import emit, note
from opsledger.services.key_rotation import rotate_key
from opsledger.services.keys import DEFAULT_NAME, init_key, show_key


@click.group("keys")
def keys_group() -> None:
    """The Ed25519 key that signs the ledger's checkpoints."""


@keys_group.command("init")
@key_file_option
@click.option(
    "--name",
    default=DEFAULT_NAME,
    show_default=True,
    help="Log origin / key name printed on every checkpoint.",
)
@click.option("--json", "json_output", is_flag=True, help="Print one JSON document.")
@click.pass_obj
def init(obj, key_file: Path | None, name: str, json_output: bool) -> None:
    """Create the signing key (owner-only permissions) and print its public key.

    An existing key is never replaced: checkpoints signed with it could no
    longer be tied to their successors.
    """
    key = init_key(obj, key_file, name)
    emit(
        {"key_file": str(key.key_file), "name": key.name, "verifier_key": key.verifier_key},
        json_output=json_output,
        human=lambda: key.verifier_key,
    )
    if not json_output:
        note(f"opsledger: private key written to {key.key_file} (mode 600); publish the line above")


@keys_group.command("show")
@key_file_option
@click.option("--json", "json_output", is_flag=True, help="Print one JSON document.")
@click.pass_obj
def show(obj, key_file: Path | None, json_output: bool) -> None:
    """Print the public verifier key of the signing key."""
    key = show_key(obj, key_file)
    emit(
        {"key_file": str(key.key_file), "name": key.name, "verifier_key": key.verifier_key},
        json_output=json_output,
        human=lambda: key.verifier_key,
    )


@keys_group.command("rotate")
@key_file_option
@click.option("--json", "json_output", is_flag=True, help="Print one JSON document.")
@click.pass_obj
def rotate(obj, key_file: Path | None, json_output: bool) -> None:
    """Replace the signing key: a new key, and a rotation statement signed by
    the old key and the new one, published beside the archives. The old private
    key is destroyed; its public half is kept, so its checkpoints still verify."""
    done = rotate_key(obj, key_file)
    emit(
        {"old": done.old_verifier_key, "new": done.new_verifier_key,
         "tree_size": done.tree_size, "statement": done.statement,
         "published": done.published, "retired": str(done.retired)},
        json_output=json_output,
        human=lambda: done.statement.rstrip("\n"),
    )
    if not json_output:
        note(f"opsledger: rotation published at {done.published}; old private key destroyed, "
             f"its public half kept as {done.retired}; give auditors the new verifier key")


def register(cli: click.Group) -> None:
    cli.add_command(keys_group)
