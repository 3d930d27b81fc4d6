"""``convroute evaluate``: what another policy, or other settings, would have achieved on the
traffic the service logged (offline policy evaluation; thin: options, one library call)."""

from __future__ import annotations

import json

import click

from convroute.bootstrap import delay_of_settings, objective_of_settings
from convroute.cli.util import DB_OPTION, opened
from convroute.domain.errors import ValidationError
from convroute.routing.base import Goal
from convroute.routing.policies import POLICIES
from convroute.services.evaluations import REPLAYS, evaluate_period


@click.command("evaluate")
@click.option("--policy", required=True, type=click.Choice(sorted(POLICIES)), help="Policy.")
@click.option("--setting", "settings", multiple=True, help="KEY=NUMBER, e.g. explore=0.05.")
@click.option("--since", default="7d", show_default=True, help="ISO 8601, or 30m, 24h, 7d ago.")
@click.option("--until", default=None, help="ISO 8601, or 30m, 24h, 7d ago (default: now).")
@click.option("--country", default=None, help="Only this destination country's traffic.")
@click.option("--goal", type=click.Choice([g.value for g in Goal]), help="Value by this goal.")
@click.option("--lambda", "lam", type=float, default=None, help="With --goal value.")
@click.option("--epsilon", type=float, default=None, help="With --goal cheapest-within.")
@click.option(
    "--replay", type=click.Choice(REPLAYS), default=REPLAYS[0], show_default=True,
    help="What the policy learns from: choices of its own coupled to the logged ones, or the "
    "logged decisions alone.",
)  # fmt: skip
@click.option("--json", "as_json", is_flag=True, help="Print JSON (as the API answers).")
@DB_OPTION
def evaluate_command(
    policy: str,
    settings: tuple[str, ...],
    since: str,
    until: str | None,
    country: str | None,
    goal: str | None,
    lam: float | None,
    epsilon: float | None,
    replay: str,
    as_json: bool,
    database_url: str | None,
) -> None:
    """Estimate what a policy (or the policy with other settings) would have converted on
    the logged traffic of a period, from the decisions' logged probabilities: IPS,
    self-normalised IPS and doubly robust estimates with 95 % intervals, beside what the
    logging policy achieved, and how far to trust them (effective sample size, support).

    Example: convroute evaluate --policy convroute --setting explore=0.05 --since 7d
    """
    with opened(database_url, migrate=False) as c:
        try:
            result = evaluate_period(
                c.store.logged_rows, c.clock(), policy, settings, since, until, country,
                objective_of_settings(c.settings), delay_of_settings(c.settings), goal, lam,
                epsilon, replay,
            )  # fmt: skip
        except ValidationError as exc:
            raise click.UsageError(exc.message) from None
    body = result.as_json()
    if as_json:
        click.echo(json.dumps(body, indent=2))
        return
    shown = ", ".join(f"{k}={v:g}" for k, v in result.settings.items()) or "its defaults"
    click.echo(
        f"{policy} ({shown}) on {body['decisions']:,} logged decisions, {body['since']} to "
        f"{body['until']}{' in ' + body['country'] if body['country'] else ''} "
        f"(logged by {', '.join(body['logged_policies'])})"
    )
    for name in ("conversions", "value"):
        b = body[name]
        click.echo(f"{name} per decision: logged {b['logged_per_decision']:.4f}")
        for key, label in (("ips", "IPS"), ("snips", "SNIPS"), ("doubly_robust", "DR")):
            e = b[key]
            click.echo(
                f"  {label:5s} {e['per_decision']:.4f}  95 % [{e['low']:.4f}, {e['high']:.4f}]"
                f"  total {e['total']:,.1f}"
            )
    d = body["diagnostics"]
    click.echo(
        f"effective sample size {d['effective_sample_size']:,.0f}; smallest logged "
        f"probability {d['min_logged_propensity']:.4f}; largest weight {d['max_weight']:.1f}; "
        f"every candidate's probability logged for {d['support_logged']:.0%} of decisions; "
        f"the candidate learned from a route of its own at {d['own_choices']:.1%}"
    )
    for warning in body["warnings"]:
        click.echo(f"warning: {warning}")
