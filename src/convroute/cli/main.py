"""The command line: ``convroute`` and its command groups, one module each (``serve.py``,
``accounts.py``, ``routes.py``, ``simulate.py``, ``windows.py``). Each command reads options,
makes one library call, prints the result; library errors become CLI errors here, at the
edge."""

from __future__ import annotations

import click

from convroute.cli.accounts import accounts
from convroute.cli.checkpoints import routes_checkpoint, routes_checkpoints
from convroute.cli.evaluate import evaluate_command
from convroute.cli.routes import routes
from convroute.cli.serve import migrate, secret_key, serve
from convroute.cli.simulate import bench, simulate_command
from convroute.cli.verify_guard import accounts_verify_guard
from convroute.cli.windows import retention, windows


@click.group()
@click.version_option(package_name="convroute")
def main() -> None:
    """convroute: conversion feedback APIs and conversion-driven SMS routing.

    Every command reads CONVROUTE_* environment variables (see docs/configuration.md).
    """


for command in (serve, migrate, secret_key, accounts, routes, windows, retention):
    main.add_command(command)
routes.add_command(routes_checkpoint)
accounts.add_command(accounts_verify_guard)
routes.add_command(routes_checkpoints)
main.add_command(simulate_command)
main.add_command(bench)
main.add_command(evaluate_command)
