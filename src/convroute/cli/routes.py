"""``convroute routes``: route configuration and route quality (thin: options, one library
call, output)."""

from __future__ import annotations

import json
import os

import click

from convroute.bootstrap import ROUTING_SETTINGS, with_stored_routing
from convroute.cli.util import DB_OPTION, opened, table
from convroute.domain.clock import format_iso
from convroute.domain.errors import ConvrouteError
from convroute.domain.models import RouteDestination
from convroute.domain.statuses import MessageType, TrafficClass
from convroute.services import routes as route_admin
from convroute.services.quality import RECENT, ReportedAnomaly, quality_query, quality_report
from convroute.services.totals import totals_report


@click.group()
def routes() -> None:
    """Configure carrier routes."""


def _price(item: str) -> RouteDestination:
    """COUNTRY=PRICE or COUNTRY/NETWORK=PRICE, validated."""
    where, sep, price = item.partition("=")
    country, _, network = where.partition("/")
    try:
        value = float(price)
    except ValueError:
        sep = ""
    if not sep or not country:
        raise click.BadParameter(f"{item!r} is not COUNTRY=PRICE", param_hint="--price")
    try:
        return route_admin.check_destination(country, value, network or None)
    except ConvrouteError as exc:
        raise click.BadParameter(f"{item!r}: {exc.message}", param_hint="--price") from None


PRICE_HELP = "COUNTRY=PRICE or COUNTRY/NETWORK=PRICE (ISO code, * for every country)"


@routes.command("add")
@click.argument("name")
@click.option(
    "--price",
    "prices",
    multiple=True,
    required=True,
    metavar="COUNTRY=PRICE",
    help=f"Price per message: {PRICE_HELP}; repeatable.",
)
@click.option(
    "--connector", type=click.Choice(route_admin.CONNECTORS), default="simulated", show_default=True
)
@click.option(
    "--config",
    "config_json",
    default="{}",
    metavar="JSON",
    help="The connector's settings, a JSON object (see docs/routing.md).",
)
@click.option("--disabled", is_flag=True, help="Add it disabled.")
@DB_OPTION
def routes_add(
    name: str,
    prices: tuple[str, ...],
    connector: str,
    config_json: str,
    disabled: bool,
    database_url: str | None,
) -> None:
    """Add a route.

    Example: convroute routes add eu-direct --price FR=0.031 --price DE=0.045
    """
    try:
        config = json.loads(config_json)
    except ValueError as exc:
        raise click.BadParameter(f"not JSON: {exc}", param_hint="--config") from None
    dests = [_price(p) for p in prices]
    with opened(database_url) as c:
        route = route_admin.new_route(name, dests, c.clock(), connector, config, not disabled)
        c.store.add_route(route)
    click.echo(f"route {name} added")


@routes.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@DB_OPTION
def routes_list(as_json: bool, database_url: str | None) -> None:
    """List routes with their prices.

    Example: convroute routes list
    """
    with opened(database_url, migrate=False) as c:
        found = c.store.routes()
    if as_json:
        click.echo(json.dumps([route_admin.route_json(r) for r in found], indent=2))
        return
    rows = [
        {
            "name": r.name,
            "enabled": r.enabled,
            "connector": r.connector,
            "prices": " ".join(
                f"{d.country}{'/' + d.network if d.network else ''}={d.price:g}"
                for d in r.destinations
            ),
            "id": r.id,
        }
        for r in found
    ]
    table(rows, ["name", "enabled", "connector", "prices", "id"])


def _switch(name: str, enabled: bool, database_url: str | None) -> None:
    with opened(database_url) as c:
        c.store.update_route(route_admin.changed(c.store.route(name), enabled=enabled))
    click.echo(f"route {name} {'enabled' if enabled else 'disabled'}")


@routes.command("disable")
@click.argument("name")
@DB_OPTION
def routes_disable(name: str, database_url: str | None) -> None:
    """Stop sending over a route (running servers see it within a second).

    Example: convroute routes disable eu-direct
    """
    _switch(name, False, database_url)


@routes.command("enable")
@click.argument("name")
@DB_OPTION
def routes_enable(name: str, database_url: str | None) -> None:
    """Send over a route again.

    Example: convroute routes enable eu-direct
    """
    _switch(name, True, database_url)


@routes.command("set-price")
@click.argument("name")
@click.argument("prices", nargs=-1, required=True, metavar="COUNTRY=PRICE...")
@DB_OPTION
def routes_set_price(name: str, prices: tuple[str, ...], database_url: str | None) -> None:
    """Set a route's price for destinations (adding them if it did not serve them).

    Example: convroute routes set-price eu-direct FR=0.029 GB/EE=0.035
    """
    with opened(database_url) as c:
        route = c.store.route(name)
        for item in prices:
            d = _price(item)
            route = route_admin.with_price(route, d.country, d.price, d.network)
        c.store.update_route(route)
    click.echo(f"route {name}: " + ", ".join(prices))


@routes.command("delete")
@click.argument("name")
@DB_OPTION
def routes_delete(name: str, database_url: str | None) -> None:
    """Delete a route that never carried a message (otherwise disable it).

    Example: convroute routes delete typo-route
    """
    with opened(database_url) as c:
        c.store.delete_route(c.store.route(name).id)
    click.echo(f"route {name} deleted")


@routes.command("quality")
@click.option("--country", required=True, help="ISO 3166 alpha-2 destination country.")
@click.option("--network", default=None, help="Destination network, as phonenumbers names it.")
@click.option(
    "--type",
    "message_type",
    default="otp",
    show_default=True,
    type=click.Choice([t.value for t in MessageType]),
)
@click.option(
    "--traffic-class",
    default="2fa",
    show_default=True,
    type=click.Choice([t.value for t in TrafficClass]),
)
@click.option(
    "--account",
    default=None,
    help="Shares and values as this account's messages get them (its objective and routes).",
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON (as the API answers).")
@DB_OPTION
def routes_quality(
    country: str,
    network: str | None,
    message_type: str,
    traffic_class: str,
    account: str | None,
    as_json: bool,
    database_url: str | None,
) -> None:
    """Show, per candidate route, what the router believes and what the log shows: the
    estimate, share of traffic and why, conversion and receipt rates over 5 min, 1 h, 24 h.
    The router's state is rebuilt from the event log, as a server does at start.

    Example: convroute routes quality --country GB --type otp
    """
    explicit = {k for k in ROUTING_SETTINGS if f"CONVROUTE_{k.upper()}" in os.environ}
    with opened(database_url, migrate=False) as opened_c:
        dest, kind, klass = quality_query(country, network, message_type, traffic_class)
        c, stored = with_stored_routing(opened_c, explicit)
        as_account = None
        if account is not None:
            as_account = c.store.account_by_name(account)
            if as_account is None:
                raise click.UsageError(f"no account named {account!r}")
        c.follower.catch_up()
        report = quality_report(c.store, c.reads, c.clock(), dest, kind, klass, None, as_account)
        routing = {k.removeprefix("routing_"): getattr(c.settings, k) for k in ROUTING_SETTINGS}
    if as_json:
        click.echo(json.dumps(report.as_json(), indent=2))
        return
    click.echo(
        f"{report.country}{' / ' + report.network if report.network else ''}, "
        f"traffic {report.traffic}, policy {report.policy}"
    )
    if report.account is not None and report.routing is not None:
        own = report.routing
        goal = own["goal"] or "the installation's"
        click.echo(
            f"as account {report.account}'s messages get it: goal {goal}"
            + (f", lambda {own['lambda']:g}" if own["goal"] == "value" else "")
            + (f", epsilon {own['epsilon']:g}" if own["goal"] == "cheapest-within" else "")
            + (f"; allowed: {', '.join(own['allow_routes'])}" if own["allow_routes"] else "")
            + (f"; forbidden: {', '.join(own['forbid_routes'])}" if own["forbid_routes"] else "")
        )
    source = "as the last server on this database ran" if stored else "this command's own"
    click.echo(
        f"routing settings: {source} ("
        + ", ".join(f"{k} {v}" for k, v in routing.items() if k != "policy")
        + ")"
    )
    if report.networks_seen and not report.network:
        click.echo(
            "traffic is routed per network; networks with traffic in the last day: "
            + ", ".join(report.networks_seen)
            + " (see one with --network)"
        )
    rows = []
    for r in report.routes:
        q, recent = r.quality, r.recent
        rows.append(
            {
                "route": q.route.name,
                "price": f"{q.price:g}",
                "share": f"{100 * q.share:.1f} %",
                "estimate": f"{100 * q.estimate:.1f} %",
                "evidence": f"{q.evidence:.0f}",
                **{f"conv {w}": _rate(recent[w].conversion_rate, recent[w].final) for w in RECENT},
                "dlr 1h": _rate(recent["1h"].dlr_delivered_rate, recent["1h"].receipts),
                "why": q.reason,
            }
        )
    table(
        rows,
        [
            "route",
            "price",
            "share",
            "estimate",
            "evidence",
            "conv 5m",
            "conv 1h",
            "conv 24h",
            "dlr 1h",
            "why",
        ],
    )
    for a in report.anomalies:
        found = a.anomaly
        state = "in progress" if found.active else f"cleared {format_iso(found.cleared_ms or 0)}"
        click.echo(
            f"anomaly: {found.kind} since {format_iso(found.started_ms)} ({state}): "
            f"{describe_anomaly(a)}"
        )
    if not report.anomalies:
        click.echo("anomalies: none in the last day")


def describe_anomaly(reported: ReportedAnomaly) -> str:
    """What an anomaly of the quality report means, in words."""
    a, route = reported.anomaly, reported.route_name
    e = a.evidence
    match a.kind:
        case "pumping":
            return (
                f"conversions down {pct(a.severity)} on every route while receipts "
                "still say delivered"
            )
        case "conversion_drop":
            return (
                f"{route} converts {pct(e['rate_after'])}, down from "
                f"{pct(e['rate_before'])}, since {e['changed_s_ago']:.0f} s before it was raised"
            )
        case "receipts_diverge":
            return (
                f"of the messages {route}'s receipts say delivered, "
                f"{pct(e['converts_if_delivered'])} convert, against "
                f"{pct(e['other_routes_if_delivered'])} on the other routes"
            )
        case "no_receipts":
            return (
                f"{route} sent receipts for {pct(e['receipt_share'])} of its "
                f"{e['messages']:.0f} recent messages"
            )
    return f"{route or 'the destination'}, severity {a.severity}"


def pct(share: float) -> str:
    return f"{100 * share:.0f} %"


def _rate(rate: float | None, n: int) -> str:
    return "-" if rate is None else f"{100 * rate:.0f}% /{n}"


@routes.command("totals")
@click.option("--hours", type=click.FloatRange(0.01, 24 * 365), default=24.0, show_default=True,
              help="The range, ending now.")  # fmt: skip
@click.option("--json", "as_json", is_flag=True, help="Print JSON (as the dashboard reads it).")
@DB_OPTION
def routes_totals(hours: float, as_json: bool, database_url: str | None) -> None:
    """Messages, conversions, conversion rate, cost and cost per conversion by route and by
    country over the last hours (the dashboard's totals, read from the database).

    Example: convroute routes totals --hours 6
    """
    with opened(database_url, migrate=False) as c:
        now = c.clock()
        report = totals_report(
            c.store.totals(now - int(hours * 3_600_000), now + 1), c.store.routes()
        )
    if as_json:
        click.echo(json.dumps(report, indent=2))
        return
    columns = ["messages", "conversions", "conversion_rate", "cost", "cost_per_conversion"]
    for key, first in (("by_route", "name"), ("by_country", "country")):
        click.echo(f"{key.replace('_', ' ')}:")
        table([{first: g[first], **{k: _shown(g[k]) for k in columns}} for g in report[key]],
              [first, *columns])  # fmt: skip


def _shown(value: object) -> object:
    return "-" if value is None else round(value, 4) if isinstance(value, float) else value
