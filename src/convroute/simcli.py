"""``convroute simulate``: a scenario run in-process against the routing engine."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

import click

from convroute.routing.policies import DEFAULT_POLICY, POLICIES
from convroute.sim.report import describe
from convroute.sim.run import ORACLE, simulate
from convroute.sim.scenario import ScenarioError, load


@click.command("simulate")
@click.argument("scenario", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--policy",
    type=click.Choice([*POLICIES, ORACLE]),
    default=DEFAULT_POLICY,
    show_default=True,
    help="The routing policy to run.",
)
@click.option("--seed", type=int, default=1, show_default=True, help="Random seed.")
@click.option(
    "--plot",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Draw route shares and true quality over time to this PNG (needs the bench extra).",
)
def simulate_command(scenario: Path, policy: str, seed: int, plot: Path | None) -> None:
    """Run a scenario file in-process and compare the policy with the dynamic oracle.

    Prints conversion rate, value, regret and ratio vs the oracle (same seed: same users,
    same network), cost per conversion, reaction time to each change and route switches.

    Example: convroute simulate scenarios/s2-outage.toml --policy convroute --seed 7
    """
    try:
        spec = load(scenario)
    except ScenarioError as exc:
        raise click.ClickException(str(exc)) from exc
    with click.progressbar(
        length=spec.messages, label=f"{spec.name} ({policy})", file=sys.stderr
    ) as bar:
        advance: Callable[[int], None] = bar.update
        result = simulate(spec, policy, seed, progress=advance, keep_series=plot is not None)
    oracle = simulate(spec, ORACLE, seed)
    click.echo(describe(result, oracle, spec.objective.lam))
    if plot is not None:
        from convroute.plots import plot_run

        try:
            plot_run(result, plot)
        except RuntimeError as exc:
            raise click.ClickException(str(exc)) from exc
        click.echo(f"plot written to {plot}")
