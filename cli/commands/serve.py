"""`opsledger serve`: the record over HTTP (the JSON API, the pages, Alertmanager's
webhook), on the same stores and services as the CLI."""

from __future__ import annotations

import click


@click.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to bind; the default answers this machine only.")
@click.option("--port", default=8080, show_default=True, type=click.IntRange(0, 65535),
              help="TCP port (0: any free one; the URL printed says which).")
@click.option("--trusted-proxy", "trusted_proxies", multiple=True, metavar="ADDR",
              help="An SSO reverse proxy's address (or network) whose --trusted-header is "
              "believed. Repeat for several. Off by default.")
@click.option("--trusted-header", metavar="NAME",
              help="The header naming the person a trusted proxy authenticated, e.g. "
              "X-Forwarded-User (the person must hold a reading role in the roster).")
@click.pass_obj
def serve(obj, host: str, port: int, trusted_proxies: tuple[str, ...],
          trusted_header: str | None) -> None:
    """Serve the record over HTTP: the JSON API, pages and Alertmanager's webhook.

    It runs until SIGTERM or Ctrl-C, on the same stores as every command.
    Every route but /healthz, /readyz and /login needs a credential: a bearer
    token an administrator issued (`opsledger roster token issue NAME --scope
    read`), the login cookie, or a trusted proxy's header. The JSON API's
    schema is at /api/v1/openapi.json.
    """
    from opsledger.web.app import create_app
    from opsledger.web.auth import TrustedProxy
    from opsledger.web.server import serve as run

    if bool(trusted_proxies) != bool(trusted_header):
        raise click.UsageError("--trusted-proxy and --trusted-header go together")
    try:
        proxy = TrustedProxy(trusted_header, trusted_proxies)
    except ValueError as e:
        raise click.BadParameter(str(e), param_hint="--trusted-proxy") from None
    app = create_app(obj, proxy=proxy)
    run(app, host, port, on_ready=lambda url: click.echo(
        f"opsledger: serving {url} (API: {url}api/v1/, SIGTERM or Ctrl-C stops)", err=True))
    click.echo("opsledger: stopped", err=True)


def register(cli: click.Group) -> None:
    cli.add_command(serve)
