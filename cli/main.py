"""`opsledger`: the command line.

Global options come first (`opsledger --home DIR ticket open ...`); each names
its environment variable. Commands live one module per command group in
`cli/commands/`; `COMMANDS` below names the modules that register each one,
and a module is imported only when its command runs (or its own help is
asked for): `opsledger --help` lists the commands from their summaries here.
"""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

import click
from opsledger.cli.errors import INTERRUPTED, exit_code_for, message_for, one_line
from opsledger.services.bootstrap import bootstrap
from opsledger.services.disk import out_of_space
from opsledger.services.settings import ENV_VARS, Settings

# command -> (its summary in `opsledger --help`, the command modules that register it).
# tests/unit/test_cli_lazy.py checks each summary against the command's own help.
COMMANDS: dict[str, tuple[str, tuple[str, ...]]] = {
    "approve": ("Record APPROVAL on ticket KEY: change-ticket (Release Manager), risk-signoff "
                "(Risk Officer) or compliance-memo (Compliance Officer).", ("evidence",)),
    "archive": ("Seal a session's artefacts into a verified BagIt archive, and check archives.",
                ("archive", "archive_check")),
    "db": ("The event store's database: make it append-only (PostgreSQL) and check it.", ("db",)),
    "demo": ("Run a complete live session: shift, ticket, evidence, gate, launch, halt.",
             ("demo",)),
    "evidence": ("Attach the pre-launch checklist's evidence (runbook section 1).", ("evidence",)),
    "flag": ("Record and read feature flag changes (one audit trail across tickets).",
             ("flag", "flag_history")),
    "gate": ("Evaluate the Go/No-Go rule for ticket KEY and record the decision.", ("gate",)),
    "incidents": ("Every SLA breach across tickets, oldest first, filtered as asked.",
                  ("incidents",)),
    "keys": ("The Ed25519 key that signs the ledger's checkpoints.", ("keys",)),
    "ledger": ("Tamper evidence: the Merkle log of every event, signed checkpoints and proofs.",
               ("ledger",)),
    "projections": ("Read models of the log (tickets, timeline, incidents, flags): status, "
                    "catch-up, rebuild, digest.", ("projections",)),
    "roster": ("Who holds which runbook role, granted and revoked by an administrator.",
               ("roster", "roster_tokens")),
    "run": ("Run a launch/halt script for ticket KEY and record it.", ("run",)),
    "serve": ("Serve the record over HTTP: the JSON API, pages and Alertmanager's webhook.",
              ("serve",)),
    "shift": ("Log the four start-of-shift steps; the shift is accepted after all four.",
              ("shift",)),
    "sla": ("SLA breaches: detect them in metric exports and alerts, or record by hand.",
            ("sla",)),
    "ticket": ("Open, inspect and close change tickets.", ("ticket", "ticket_read")),
    "timeline": ("What happened on ticket KEY, in order: time, who, what, at which log "
                 "position.", ("timeline",)),
    "witness": ("A witness: cosigns a log's checkpoints only if consistent with what it "
                "cosigned before.", ("witness",)),
}


class LazyGroup(click.Group):
    """click's lazy group: a command's modules are imported when it is looked up."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*self.commands, *COMMANDS})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in self.commands and cmd_name in COMMANDS:
            self.load(cmd_name)
        return self.commands.get(cmd_name)

    def load(self, name: str) -> None:
        for module in COMMANDS[name][1]:
            importlib.import_module(f"opsledger.cli.commands.{module}").register(self)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """The command list, from the summaries above for commands not loaded."""
        names = self.list_commands(ctx)
        if not names:
            return
        limit = formatter.width - 6 - max(len(name) for name in names)
        rows = []
        for name in names:
            command = self.commands.get(name)
            if command is None:
                command = click.Command(name, help=COMMANDS[name][0])  # shortened as click does
                rows.append((name, command.get_short_help_str(limit)))
            elif not command.hidden:
                rows.append((name, command.get_short_help_str(limit)))
        with formatter.section("Commands"):
            formatter.write_dl(rows)


class OpsLedgerCLI(LazyGroup):
    """The group whose `main` maps every failure to an exit code and one line.

    Doing it here rather than in a wrapper means click's own test runner, the
    console script and `python -m opsledger.cli` all behave identically.
    """

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except Exception as e:
            full = out_of_space(ctx.obj, e)  # said as a full disk, not as "disk I/O error"
            if full is None:
                raise
            raise full from e

    def main(self, args=None, prog_name=None, complete_var=None, standalone_mode=True, **extra):
        try:
            code = super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        except (click.exceptions.Abort, KeyboardInterrupt):
            click.echo("opsledger: interrupted", err=True)
            sys.exit(INTERRUPTED)
        except click.exceptions.Exit as e:
            sys.exit(e.exit_code)
        except click.exceptions.NoArgsIsHelpError as e:  # a group called alone: its help, as is
            e.show()
            sys.exit(e.exit_code)
        except Exception as e:  # the one place that turns errors into exit codes
            hint = ""
            if isinstance(e, click.UsageError) and e.ctx is not None:
                hint = f" (see '{e.ctx.command_path} --help')"
            click.echo(f"opsledger: error: {one_line(message_for(e))}{hint}", err=True)
            sys.exit(exit_code_for(e))
        sys.exit(code if isinstance(code, int) else 0)


ENVIRONMENT = """\b
Settings (each global option above also has its variable):
  OPSLEDGER_HOME            --home: the embedded stores' folder [./.opsledger]
  OPSLEDGER_DATABASE_URL    --database-url: PostgreSQL instead of SQLite
  OPSLEDGER_ACTOR           --actor: who you say acts (a check only)
  OPSLEDGER_IDENTITY        --identity: your SSH private key; else SSH_AUTH_SOCK's agent
  OPSLEDGER_SIGNING_KEY     the ledger's Ed25519 checkpoint key [$OPSLEDGER_HOME/keys/ledger.key]
  OPSLEDGER_SIGNING_AGENT   an ssh-agent socket holding that key instead (another account's)
  OPSLEDGER_SIGNING_NAME    the log's name on checkpoints signed through the agent
  OPSLEDGER_WITNESSES       witnesses asked to cosign each seal: URL=VERIFIERKEY items
  OPSLEDGER_REDACTION_KEY   the desk's secret for commitments to redacted originals
  OPSLEDGER_ARCHIVE_STORE   where archives go, a folder or s3://bucket/prefix
                            [$OPSLEDGER_HOME/archives]
  OPSLEDGER_S3_ENDPOINT     a custom S3 endpoint (credentials: the usual AWS variables)
  OPSLEDGER_RETENTION_DAYS  Object Lock retention of archives [2192, six years]
  OPSLEDGER_CREATE_TABLE    n: never create the store's tables (a hardened
                            PostgreSQL's application role; see 'db harden --help')

\b
What a script run by 'opsledger run' receives (see 'run --help'):
  OPSLEDGER_TICKET, OPSLEDGER_RUN_ID, OPSLEDGER_SESSION_DIR, OPSLEDGER_EFFECTIVE_ENV

\b
Exit codes: 0 ok, 1 refused by a rule or a failed check, 2 usage or invalid
input, 3 incomplete (a store unreachable or not there), 130 interrupted.
"""


@click.group(
    cls=OpsLedgerCLI,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
    epilog=ENVIRONMENT,
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
