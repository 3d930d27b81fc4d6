"""``convroute accounts``: accounts, their credentials (issue, list, revoke, rotate), their
conversion windows, conversion reporting, request rate and routing."""

from __future__ import annotations

import json

import click

from convroute.bootstrap import Container
from convroute.cli.util import DB_OPTION, opened, print_rows
from convroute.domain.clock import format_iso
from convroute.domain.errors import ValidationError
from convroute.domain.models import SignatureMethod
from convroute.domain.statuses import Dialect, MessageType, TrafficClass
from convroute.domain.windows import MAX_WINDOW_S
from convroute.services.accounts import (
    MAX_OVERLAP_S,
    check_rate_limit,
    issue_credential,
    new_account,
    rotate_credential,
)
from convroute.services.objectives import GOALS, check_routing, routing_json


def _account_id(c: Container, name: str) -> str:
    account = c.store.account_by_name(name)
    if account is None:
        raise click.ClickException(f"no account named {name!r} (see: convroute accounts list)")
    return account.id


@click.group()
def accounts() -> None:
    """Create and list accounts and their credentials."""


@accounts.command("create")
@click.argument("name")
@click.option(
    "--traffic-class",
    type=click.Choice([t.value for t in TrafficClass]),
    default="2fa",
    show_default=True,
    help="Traffic class of the new credentials.",
)
@click.option("--json", "as_json", is_flag=True, help="Print every credential as JSON.")
@DB_OPTION
def accounts_create(name: str, traffic_class: str, as_json: bool, database_url: str | None) -> None:
    """Create an account with one credential per dialect; prints its secrets once.

    Example: convroute accounts create acme --json
    """
    with opened(database_url) as c:
        created = new_account(name, TrafficClass(traffic_class), c.clock())
        c.store.create_account(created)
    click.echo(json.dumps(created.as_json(), indent=2) if as_json else created.pretty())


@accounts.command("add-credential")
@click.argument("name")
@click.option("--dialect", type=click.Choice([d.value for d in Dialect]), required=True)
@click.option(
    "--traffic-class",
    type=click.Choice([t.value for t in TrafficClass]),
    default="2fa",
    show_default=True,
)
@click.option(
    "--signature-method",
    type=click.Choice([m.value for m in SignatureMethod]),
    default="sha256",
    show_default=True,
    help="Vonage only.",
)
@click.option("--workspace-id", default=None, help="Bird only: bind the key to this workspace.")
@click.option("--json", "as_json", is_flag=True, help="Print the credential as JSON.")
@DB_OPTION
def accounts_add_credential(
    name: str,
    dialect: str,
    traffic_class: str,
    signature_method: str,
    workspace_id: str | None,
    as_json: bool,
    database_url: str | None,
) -> None:
    """Add a credential to an account (e.g. a separate Vonage key for non-2FA traffic).

    Example: convroute accounts add-credential acme --dialect vonage --traffic-class other
    """
    with opened(database_url) as c:
        issued = issue_credential(
            _account_id(c, name),
            Dialect(dialect),
            TrafficClass(traffic_class),
            c.clock(),
            SignatureMethod(signature_method),
            workspace_id,
        )
        c.store.add_credential(issued)
    shown = {dialect: issued.shown}
    click.echo(
        json.dumps(shown, indent=2)
        if as_json
        else "\n".join(f"{k}: {v}" for k, v in issued.shown.items())
    )


@accounts.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@DB_OPTION
def accounts_list(as_json: bool, database_url: str | None) -> None:
    """List accounts.

    Example: convroute accounts list
    """
    with opened(database_url, migrate=False) as c:
        rows = c.store.list_accounts()
    print_rows(rows, ["id", "name", "credentials", "conversions_enabled"], as_json)


@accounts.command("set-window")
@click.argument("name")
@click.argument("message_type", type=click.Choice([t.value for t in MessageType]))
@click.argument("seconds", type=click.IntRange(1, MAX_WINDOW_S))
@DB_OPTION
def accounts_set_window(
    name: str, message_type: str, seconds: int, database_url: str | None
) -> None:
    """Set an account's conversion window for a message type, in seconds.

    Example: convroute accounts set-window acme otp 300
    """
    with opened(database_url) as c:
        c.store.set_window(_account_id(c, name), MessageType(message_type), seconds)
    click.echo(f"{name}: {message_type} window is {seconds} s")


@accounts.command("routing")
@click.argument("name")
@click.option("--goal", type=click.Choice(GOALS), help="The objective its sends are valued by.")
@click.option("--lambda", "lam", type=float, help="With --goal value: value per currency unit.")
@click.option(
    "--epsilon", type=float, help="With --goal cheapest-within: the conversion-rate loss tolerated."
)
@click.option("--allow", multiple=True, help="A route its messages may take (repeat; none: all).")
@click.option("--forbid", multiple=True, help="A route its messages never take (repeat).")
@click.option("--reset", is_flag=True, help="Back to the installation's objective, every route.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON (as the API answers).")
@DB_OPTION
def accounts_routing(
    name: str,
    goal: str | None,
    lam: float | None,
    epsilon: float | None,
    allow: tuple[str, ...],
    forbid: tuple[str, ...],
    reset: bool,
    as_json: bool,
    database_url: str | None,
) -> None:
    """Show or set an account's own routing: the objective its sends are valued by and the
    routes they may take (every account learns from the same evidence; only the valuation
    and the candidates differ). Given any option, the routing is replaced whole.

    Example: convroute accounts routing acme --goal value --lambda 10 --forbid grey-route
    (and back to the installation's: convroute accounts routing acme --reset)
    """
    changing = reset or goal is not None or lam is not None or epsilon is not None
    changing = changing or bool(allow) or bool(forbid)
    if reset and (goal is not None or lam is not None or epsilon is not None or allow or forbid):
        raise click.UsageError("--reset takes no other routing option")
    with opened(database_url, migrate=changing) as c:
        account_id = _account_id(c, name)
        routes = c.store.routes()
        if changing:
            try:
                routing = check_routing(routes, goal, lam, epsilon, allow, forbid)
            except ValidationError as exc:
                raise click.UsageError(exc.message) from None
            c.store.set_routing(account_id, routing, c.clock())
        account = c.store.account_by_name(account_id)
        assert account is not None
        shown = routing_json(account.routing, routes)
    if as_json:
        click.echo(json.dumps(shown, indent=2))
        return
    goal_text = shown["goal"] or "the installation's objective"
    if shown["goal"] == "value":
        goal_text += f" (lambda {shown['lambda']:g})"
    elif shown["goal"] == "cheapest-within":
        goal_text += f" (epsilon {shown['epsilon']:g})"
    click.echo(f"{name}: goal {goal_text}")
    click.echo(f"  routes allowed: {', '.join(shown['allow_routes']) or 'every route'}")
    click.echo(f"  routes forbidden: {', '.join(shown['forbid_routes']) or 'none'}")


@accounts.command("conversions")
@click.argument("name")
@click.argument("state", type=click.Choice(["on", "off"]))
@DB_OPTION
def accounts_conversions(name: str, state: str, database_url: str | None) -> None:
    """Turn conversion reporting on or off for an account.

    Example: convroute accounts conversions acme off
    """
    with opened(database_url) as c:
        c.store.set_conversions_enabled(_account_id(c, name), state == "on", c.clock())
    click.echo(f"{name}: conversions {state}")


@accounts.command("credentials")
@click.argument("name")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@DB_OPTION
def accounts_credentials(name: str, as_json: bool, database_url: str | None) -> None:
    """List an account's credentials (no secrets): id, dialect, key, until when it works.

    Example: convroute accounts credentials acme
    """
    with opened(database_url, migrate=False) as c:
        rows = c.store.list_credentials(_account_id(c, name))
        now = c.clock()
    for row in rows:
        stops = row.pop("revoked_ms")
        row["created_ms"] = format_iso(row["created_ms"])
        row["revoked"] = "-" if stops is None else format_iso(stops)
        row["live"] = stops is None or now < stops
    print_rows(rows, ["id", "dialect", "key_id", "traffic_class", "revoked", "live"], as_json)


@accounts.command("revoke")
@click.argument("name")
@click.argument("credential_id")
@DB_OPTION
def accounts_revoke(name: str, credential_id: str, database_url: str | None) -> None:
    """Revoke a credential now: every instance answers 401 to it within a second.

    Example: convroute accounts revoke acme 0190c3e5-...
    """
    with opened(database_url) as c:
        stops = c.store.revoke_credential(_account_id(c, name), credential_id, c.clock())
    click.echo(f"{name}: credential {credential_id} revoked at {format_iso(stops)}")


@accounts.command("rotate")
@click.argument("name")
@click.argument("credential_id")
@click.option(
    "--overlap",
    type=click.IntRange(0, MAX_OVERLAP_S),
    default=86_400,
    show_default=True,
    help="Seconds the old credential keeps working beside the new one.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the new credential as JSON.")
@DB_OPTION
def accounts_rotate(
    name: str, credential_id: str, overlap: int, as_json: bool, database_url: str | None
) -> None:
    """Issue a replacement for a credential (its secrets are printed once); the old one
    keeps working for --overlap seconds, then stops.

    Example: convroute accounts rotate acme 0190c3e5-... --overlap 3600
    """
    with opened(database_url) as c:
        done = rotate_credential(c.store, _account_id(c, name), credential_id, c.clock(), overlap)
    shown = {"id": done.issued.credential.id, **done.issued.shown}
    if as_json:
        old = {"id": done.old_id, "revoked_at": format_iso(done.old_stops_ms)}
        click.echo(json.dumps({"credential": shown, "old": old}, indent=2))
        return
    click.echo("\n".join(f"{k}: {v}" for k, v in shown.items()))
    click.echo(f"the old credential {done.old_id} stops at {format_iso(done.old_stops_ms)}")


@accounts.command("set-rate-limit")
@click.argument("name")
@click.argument("per_second")
@DB_OPTION
def accounts_set_rate_limit(name: str, per_second: str, database_url: str | None) -> None:
    """Set an account's request rate (requests per second), or 'default' for the
    installation's (CONVROUTE_ACCOUNT_RATE_LIMIT). Past it, requests get 429.

    Example: convroute accounts set-rate-limit acme 50
    """
    try:
        asked = None if per_second == "default" else float(per_second)
    except ValueError:
        raise click.BadParameter("a number of requests per second, or 'default'") from None
    with opened(database_url) as c:
        rate = check_rate_limit(asked)
        c.store.set_rate_limit(_account_id(c, name), rate, c.clock())
    click.echo(f"{name}: rate limit {'default' if rate is None else f'{rate:g}/s'}")
