"""The ``tnid`` command: schema, development server, citizens, demo data.

Every command builds the app from TNID_* settings (see the README), so a bad configuration
stops it with one line before anything is touched.
"""

from __future__ import annotations

import sys

import click

from idp.cli.admins import admins
from idp.cli.audit import audit
from idp.cli.citizens import citizens
from idp.cli.clients import clients
from idp.cli.demo import demo
from idp.cli.keys import keys
from idp.cli.logout import logout
from idp.cli.maintenance import purge
from idp.cli.outbox import outbox
from idp.cli.server import init, serve
from idp.config import ConfigError

CONFIG_EXIT = 2


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def cli() -> None:
    """ThaiNguyen ID — citizen identity and single sign-on provider.

    Configuration comes from TNID_* environment variables (see the README).
    """


cli.add_command(init)
cli.add_command(serve)
cli.add_command(citizens)
cli.add_command(admins)
cli.add_command(clients)
cli.add_command(demo)
cli.add_command(keys)
cli.add_command(logout)
cli.add_command(purge)
cli.add_command(audit)
cli.add_command(outbox)


def main() -> None:
    """Console-script entry point: configuration errors end with one line and exit code 2."""
    try:
        cli.main(prog_name="tnid")
    except ConfigError as error:
        click.echo(f"tnid: configuration error: {error}", err=True)
        sys.exit(CONFIG_EXIT)
