"""`opsledger demo`: one complete, realistic live session on the embedded stores."""

from __future__ import annotations

from pathlib import Path

import click
from opsledger.cli.output import note
from opsledger.services.bootstrap import Services
from opsledger.services.demo import run_demo


@click.command("demo")
@click.option(
    "--dir",
    "directory",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("opsledger-demo"),
    show_default=True,
    help="Where the demo's session folder, evidence and stores go.",
)
@click.option(
    "--no-archive",
    is_flag=True,
    help="Stop after the settled session (leave archive and close to you).",
)
@click.pass_obj
def demo(obj: Services, directory: Path, no_archive: bool) -> None:
    """Run a complete live session: shift, ticket, evidence, gate, launch, halt.

    Uses the embedded stores inside --dir unless --home or
    --database-url say otherwise, and prints what it did and where it is.
    """
    run_demo(obj, directory, no_archive=no_archive, say=click.echo, notify=note)


def register(cli: click.Group) -> None:
    cli.add_command(demo)
