"""``convroute accounts verify-guard``: the operator's view of an account's fraud guard in
front of its verifications (the account sets the same with ``PUT
/api/v1/account/verify-guard``)."""

from __future__ import annotations

import json

import click

from convroute.cli.accounts import _account_id
from convroute.cli.util import DB_OPTION, opened
from convroute.domain.errors import ValidationError
from convroute.services.guard import PUMPING_MODES, policy_of
from convroute.storage.verifications import SqlVerifications


@click.command("verify-guard")
@click.argument("name")
@click.option("--allow", multiple=True, help="A country (ISO alpha-2) allowed (repeat; none: all).")
@click.option("--block", multiple=True, help="A country refused (repeat).")
@click.option("--monitor", multiple=True, help="A country sent to and counted (repeat).")
@click.option(
    "--pumping",
    type=click.Choice(PUMPING_MODES),
    help="During a pumping episode: block the prefixes it uses, hold the destination, or "
    "monitor; always: block such prefixes without waiting for an episode.",
)
@click.option("--reset", is_flag=True, help="Back to the defaults (every country; block).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON (as the API answers).")
@DB_OPTION
def accounts_verify_guard(
    name: str,
    allow: tuple[str, ...],
    block: tuple[str, ...],
    monitor: tuple[str, ...],
    pumping: str | None,
    reset: bool,
    as_json: bool,
    database_url: str | None,
) -> None:
    """Show or set an account's fraud guard in front of its verifications. Given any option,
    the guard is replaced whole.

    Example: convroute accounts verify-guard acme --block NG --block PK --pumping block
    """
    changing = reset or bool(allow or block or monitor) or pumping is not None
    if reset and (allow or block or monitor or pumping):
        raise click.UsageError("--reset takes no other option")
    with opened(database_url, migrate=changing) as c:
        account_id = _account_id(c, name)
        kept = SqlVerifications(c.store.engines.writer, c.store.engines.reader)
        if changing:
            doc: dict[str, object] = {
                "allowed_countries": list(allow),
                "blocked_countries": list(block),
                "monitored_countries": list(monitor),
            }
            if pumping is not None:
                doc["pumping"] = pumping
            try:
                policy = policy_of(doc)
            except ValidationError as exc:
                raise click.UsageError(exc.message) from None
            kept.set_guard(account_id, policy, c.clock())
        shown = kept.guard(account_id).to_json()
    if as_json:
        click.echo(json.dumps(shown, indent=2))
        return
    click.echo(f"{name}: verifications")
    click.echo(f"  countries allowed: {', '.join(shown['allowed_countries']) or 'every country'}")
    click.echo(f"  countries blocked: {', '.join(shown['blocked_countries']) or 'none'}")
    click.echo(f"  countries monitored: {', '.join(shown['monitored_countries']) or 'none'}")
    click.echo(f"  during a pumping episode: {shown['pumping']}")
