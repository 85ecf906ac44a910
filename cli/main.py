"""`opsledger`: the command line.

Global options come first (`opsledger --home DIR ticket open ...`); each names
its environment variable. Commands live one module per command group in
`cli/commands/`; they are registered at the bottom of this module.
"""

from __future__ import annotations

import sys
from pathlib import Path

import click
from opsledger.cli.errors import INTERRUPTED, exit_code_for, message_for, one_line
from opsledger.services.bootstrap import bootstrap
from opsledger.services.settings import ENV_VARS, Settings


class OpsLedgerCLI(click.Group):
    """The group whose `main` maps every failure to an exit code and one line.

    Doing it here rather than in a wrapper means click's own test runner, the
    console script and `python -m opsledger.cli` all behave identically.
    """

    def main(self, args=None, prog_name=None, complete_var=None, standalone_mode=True, **extra):
        try:
            code = super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        except (click.exceptions.Abort, KeyboardInterrupt):
            click.echo("opsledger: interrupted", err=True)
            sys.exit(INTERRUPTED)
        except click.exceptions.Exit as e:
            sys.exit(e.exit_code)
        except Exception as e:  # the one place that turns errors into exit codes
            hint = ""
            if isinstance(e, click.UsageError) and e.ctx is not None:
                hint = f" (see '{e.ctx.command_path} --help')"
            click.echo(f"opsledger: error: {one_line(message_for(e))}{hint}", err=True)
            sys.exit(exit_code_for(e))
        sys.exit(code if isinstance(code, int) else 0)


@click.group(
    cls=OpsLedgerCLI,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
)
@click.option(
    "--home",
    type=click.Path(file_okay=False, path_type=Path),
    help=f"Folder of the embedded stores (SQLite files, archives, keys) [env {ENV_VARS['home']}; default ./.opsledger].",
)
@click.option(
    "--database-url",
    metavar="URL",
    help=f"postgresql://user@host:port/db[?schema=name] to use PostgreSQL instead of SQLite [env {ENV_VARS['database_url']}].",
)
@click.option(
    "--actor",
    metavar="NAME",
    help=f"Who you say acts; the signing key decides, this only checks [env {ENV_VARS['actor']}].",
)
@click.option(
    "--identity",
    type=click.Path(dir_okay=False, path_type=Path),
    help=f"Your SSH private key file, as ssh -i, to sign what you record [env "
    f"{ENV_VARS['identity']}; default the first key of ssh-agent, SSH_AUTH_SOCK].",
)
@click.version_option(package_name="opsledger")
@click.pass_context
def cli(
    ctx: click.Context,
    home: Path | None,
    database_url: str | None,
    actor: str | None,
    identity: Path | None,
) -> None:
    """opsledger: an audit trail and archive for live trading sessions.

    Every approval, command, flag change and SLA breach of a session is
    recorded as an immutable event; nothing is ever edited.
    """
    services = bootstrap(Settings.from_env(
        home=home, database_url=database_url, actor=actor, identity=identity
    ))
    ctx.obj = services
    ctx.call_on_close(services.close)


def main(argv: list[str] | None = None) -> None:
    """Console entry point."""
    cli.main(args=argv, prog_name="opsledger")


# --- command registration: one line per command module --------------------------
from opsledger.cli.commands import (  # noqa: E402
    archive,
    archive_check,
    db,
    demo,
    evidence,
    flag,
    flag_history,
    gate,
    incidents,
    keys,
    ledger,
    projections,
    roster,
    run,
    shift,
    sla,
    ticket,
    ticket_read,
    timeline,
    witness,
)

for module in (ticket, evidence, gate, flag, shift, sla, run, archive, demo, keys, db, ledger,
               roster, witness):
    module.register(cli)
# Read side; ticket_read, archive_check and flag_history extend the groups above.
for module in (projections, ticket_read, archive_check, timeline, incidents, flag_history):
    module.register(cli)
