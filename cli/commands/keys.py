"""`opsledger keys init|show`: the checkpoint signing key."""

from __future__ import annotations

from pathlib import Path

import click
from opsledger.cli.keys import DEFAULT_NAME, create_key, load_key
from opsledger.cli.output import emit, note


def key_path(obj, explicit: Path | None) -> Path:
    return explicit or obj.settings.signing_key or (obj.settings.home / "keys" / "ledger.key")


key_file_option = click.option(
    "--key-file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Private key path [env OPSLEDGER_SIGNING_KEY; default $OPSLEDGER_HOME/keys/ledger.key].",
)


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
    path = key_path(obj, key_file)
    signer = create_key(path, name)
    emit(
        {"key_file": str(path), "name": signer.name, "verifier_key": signer.verifier_key},
        json_output=json_output,
        human=lambda: signer.verifier_key,
    )
    if not json_output:
        note(f"opsledger: private key written to {path} (mode 600); publish the line above")


@keys_group.command("show")
@key_file_option
@click.option("--json", "json_output", is_flag=True, help="Print one JSON document.")
@click.pass_obj
def show(obj, key_file: Path | None, json_output: bool) -> None:
    """Print the public verifier key of the signing key."""
    path = key_path(obj, key_file)
    signer = load_key(path)
    emit(
        {"key_file": str(path), "name": signer.name, "verifier_key": signer.verifier_key},
        json_output=json_output,
        human=lambda: signer.verifier_key,
    )


def register(cli: click.Group) -> None:
    cli.add_command(keys_group)
