"""``convroute simulate``: a scenario run in-process against the routing engine."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from convroute.routing.policies import DEFAULT_POLICY, POLICIES
from convroute.sim.report import describe
from convroute.sim.run import Prior, Result, compiled, simulate
from convroute.sim.scenario import Scenario, ScenarioError, load
from convroute.sim.truth import ORACLE

F = TypeVar("F", bound=Callable[..., Any])


def assume_delay(command: F) -> F:
    """The options that tell convroute's policies a delay model other than the scenario's."""
    command = click.option(
        "--assume-delay-sigma",
        type=click.FloatRange(0.001, 10),
        default=None,
        metavar="X",
        help="... and this sigma of its log (default: the scenario's).",
    )(command)
    return click.option(
        "--assume-delay-median",
        type=click.FloatRange(0.001, 86_400),
        default=None,
        metavar="S",
        help="Tell convroute's policies (and the watch) this conversion-delay median, in "
        "seconds, instead of the scenario's (as in production, where nobody knows it).",
    )(command)


def prior_of(
    spec: Scenario, median: float | None, sigma: float | None, off: float = 1.0
) -> Prior | None:
    """The delay model the policies are told: the scenario's where neither is given, its
    median times ``off`` where ``off`` is not 1 and no median is given."""
    u = spec.users
    if median is None and off != 1.0 and u.delay_median_s > 0:
        median = u.delay_median_s * off
    if median is None and sigma is None:
        return None
    return (
        u.delay_median_s if median is None else median,
        u.delay_sigma if sigma is None else sigma,
    )


def told(spec: Scenario, prior: Prior | None, result: Result | None = None) -> str:
    """What the run told the policy of its users' conversion delay (its prior), and what
    the policy learned from the conversions it saw."""
    u = spec.users
    own = f"median {u.delay_median_s:g} s, sigma {u.delay_sigma:g}"
    if prior is None:
        line = f"  delay prior       the scenario's own ({own}), as the policy was told"
    else:
        line = (
            f"  delay prior       told median {prior[0]:g} s, sigma {prior[1]:g} (the truth: {own})"
        )
    learned = None if result is None else result.learned_delay
    if learned is not None:
        median, sigma, n = learned
        line += (
            f"\n  delay learned     median {median:.1f} s, sigma {sigma:.2f} from {n:,} conversions"
            " (from the send: the routes' latency included)"
        )
    return line


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
@click.option(
    "--against",
    metavar="URL",
    default=None,
    help="Drive a running server's HTTP APIs with the scenario's traffic instead.",
)
@click.option(
    "--credentials",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="With --against: admin token and account credentials (serve --demo writes "
    "var/demo-credentials.json).",
)
@click.option(
    "--speed",
    type=click.FloatRange(0.01, 10_000),
    default=20.0,
    show_default=True,
    help="With --against: scenario seconds per real second.",
)
@click.option(
    "--messages",
    type=click.IntRange(1),
    default=None,
    help="With --against: send only the first N messages of the scenario.",
)
@assume_delay
def simulate_command(
    scenario: Path,
    policy: str,
    seed: int,
    plot: Path | None,
    against: str | None,
    credentials: Path | None,
    speed: float,
    messages: int | None,
    assume_delay_median: float | None,
    assume_delay_sigma: float | None,
) -> None:
    """Run a scenario file in-process and compare the policy with the dynamic oracle, or
    (--against URL) drive a running server with the scenario's traffic.

    Prints conversion rate, value, regret and ratio vs the oracle (same seed: same users,
    same network), cost per conversion, reaction time to each change, route switches, and
    the anomalies (SMS pumping) a watch raised on the same traffic.
    With --against, the server routes with its own live policy; the driver sends through
    the native API, the server's simulated routes send receipts, and conversions are
    reported through the Plivo dialect (docs/routing.md, "End to end").

    Example: convroute simulate scenarios/s2-outage.toml --policy convroute --seed 7
    """
    if against is not None:
        _simulate_against(against, scenario, credentials, seed, speed, messages)
        return
    try:
        spec = load(scenario)
    except ScenarioError as exc:
        raise click.ClickException(str(exc)) from exc
    prior = prior_of(spec, assume_delay_median, assume_delay_sigma)
    with click.progressbar(
        length=spec.messages, label=f"{spec.name} ({policy})", file=sys.stderr
    ) as bar:
        advance: Callable[[int], None] = bar.update
        result = simulate(
            spec, policy, seed, progress=advance, keep_series=plot is not None, watch=True,
            prior=prior,
        )  # fmt: skip
    oracle = simulate(spec, ORACLE, seed)
    click.echo(describe(result, oracle, spec.objective.lam))
    click.echo(told(spec, prior, result))
    if plot is not None:
        from convroute.cli.plots import plot_run

        try:
            plot_run(result, plot)
        except RuntimeError as exc:
            raise click.ClickException(str(exc)) from exc
        click.echo(f"plot written to {plot}")


@click.group("bench")
def bench() -> None:
    """Reproducible benchmarks."""


@bench.command("routing")
@click.option(
    "--scenario",
    "scenarios",
    multiple=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Scenario files (default: every scenarios/*.toml).",
)
@click.option(
    "--policy",
    "policies",
    multiple=True,
    help="Policies to run (default: all of convroute's, the oracle and SMPyBandits').",
)
@click.option("--seeds", type=click.IntRange(1), default=20, show_default=True)
@click.option(
    "--smpy-seeds",
    type=click.IntRange(0),
    default=None,
    help="Seeds for the SMPyBandits policies on scenarios other than S1 (default: --seeds); "
    "they are slow on long scenarios.",
)
@click.option("--jobs", type=click.IntRange(1), default=2, show_default=True)
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("docs/benchmarks"),
    show_default=True,
)
@click.option("--no-smpy", is_flag=True, help="Leave out the SMPyBandits policies.")
@click.option(
    "--prior-off",
    type=click.FloatRange(0.001, 1000),
    default=4.0,
    show_default=True,
    metavar="FACTOR",
    help="Tell convroute's policies each scenario's delay median times FACTOR (a wrong prior, "
    "as in production where nobody knows it: they learn the delay); 1: the truth.",
)
@assume_delay
def bench_routing(
    scenarios: tuple[Path, ...],
    policies: tuple[str, ...],
    seeds: int,
    smpy_seeds: int | None,
    jobs: int,
    out: Path,
    no_smpy: bool,
    prior_off: float,
    assume_delay_median: float | None,
    assume_delay_sigma: float | None,
) -> None:
    """Run every policy, the dynamic oracle and the SMPyBandits policies on every scenario,
    with the same seeds for all, and write the results table to OUT/routing.md and a plot
    of convroute's route shares per scenario to OUT/routing-SCENARIO.png.

    Example: convroute bench routing --seeds 20 --jobs 2
    """
    from convroute.bench.routing import OURS, Task, markdown, run_all, summarize, write
    from convroute.bench.smpy import PER_DESTINATION, SMPY_POLICIES

    if not compiled():
        click.echo(
            "running on the Python source; `make fast` builds the compiled engine and "
            "simulator (same results, ~2.5x faster): PYTHONPATH=build/fast convroute bench ...",
            err=True,
        )

    paths = list(scenarios) or sorted(Path("scenarios").glob("*.toml"))
    if not paths:
        raise click.ClickException("no scenario files: give --scenario or run from the project")
    names = list(policies) or [*OURS, *([] if no_smpy else SMPY_POLICIES)]
    unknown = [n for n in names if n not in (*OURS, *SMPY_POLICIES)]
    if unknown:
        raise click.ClickException(f"unknown policy {unknown[0]!r}")
    try:
        specs = {str(p): load(p) for p in paths}
    except ScenarioError as exc:
        raise click.ClickException(str(exc)) from exc
    tasks: list[Task] = []
    for path, spec in specs.items():
        for name in names:
            if name.endswith(PER_DESTINATION) and len(spec.destinations) == 1 and not policies:
                continue  # (one destination: the same runs as the pooled bandit's)
            n = seeds
            if name in SMPY_POLICIES and smpy_seeds is not None and not spec.name.startswith("s1"):
                n = smpy_seeds
            prior = prior_of(spec, assume_delay_median, assume_delay_sigma, prior_off)
            tasks += [(path, name, seed, prior) for seed in range(n)]
    # the slowest first, so that the processes finish together
    tasks.sort(key=lambda t: -specs[t[0]].messages * (3 if t[1] in SMPY_POLICIES else 1))
    with click.progressbar(length=len(tasks), label="runs", file=sys.stderr) as bar:
        advance: Callable[[int], None] = bar.update
        try:
            runs = run_all(tasks, jobs, advance)
        except RuntimeError as exc:
            raise click.ClickException(str(exc)) from exc
    lam_of = {spec.name: spec.objective.lam for spec in specs.values()}
    command = "convroute bench routing " + " ".join(sys.argv[3:])
    report = markdown(summarize(runs, lam_of), lam_of, command.strip())
    if assume_delay_median is not None or assume_delay_sigma is not None or prior_off != 1.0:
        own = "the scenario's"
        median = own if assume_delay_median is None else f"{assume_delay_median:g} s"
        if assume_delay_median is None and prior_off != 1.0:
            median = f"{prior_off:g} x the scenario's"
        sigma = own if assume_delay_sigma is None else f"{assume_delay_sigma:g}"
        report += (
            "\nconvroute's policies (and the watch) were told a conversion delay of median "
            f"{median} and sigma {sigma}, not the scenarios' own: a wrong prior, which they "
            "correct from the conversions they see (the delay is learned from the log). The "
            "SMPyBandits policies are told no delay.\n"
        )
    write(out / "routing.md", report)
    click.echo(report)
    try:
        from convroute.cli.plots import plot_run

        for spec in specs.values():
            plot_run(
                simulate(spec, "convroute", 0, keep_series=True), out / f"routing-{spec.name}.png"
            )
    except RuntimeError as exc:
        click.echo(f"plots skipped: {exc}", err=True)
    click.echo(f"written: {out / 'routing.md'}")


def _simulate_against(
    url: str,
    scenario: Path,
    credentials: Path | None,
    seed: int,
    speed: float,
    messages: int | None,
) -> None:
    import asyncio
    import json
    from collections import Counter

    from convroute.cli.against import Credentials, DriveError, drive

    if credentials is None:
        raise click.UsageError("--against needs --credentials FILE")
    try:
        spec = load(scenario)
        creds = Credentials.from_json(json.loads(credentials.read_text()))
    except (ScenarioError, ValueError, DriveError) as exc:
        raise click.ClickException(str(exc)) from exc
    total = spec.messages if messages is None else min(messages, spec.messages)
    click.echo(
        f"driving {url} with {spec.name}: {total:,} messages at {speed:g}x "
        f"(about {total * spec.interval_s / speed:,.0f} s)",
        err=True,
    )
    with click.progressbar(length=total, label=spec.name, file=sys.stderr) as bar:

        def progress(n: int, seen: Counter[str]) -> None:
            recent = sum(seen.values()) or 1
            bar.label = f"{spec.name} " + " ".join(
                f"{name} {100 * k / recent:.0f}%" for name, k in sorted(seen.items())
            )
            seen.clear()
            bar.update(n)

        try:
            result = asyncio.run(drive(url, scenario, creds, seed, speed, messages, progress))
        except DriveError as exc:
            raise click.ClickException(str(exc)) from exc
    oracle = simulate(spec, ORACLE, seed)
    click.echo(
        f"scenario {spec.name} against {url}: {result.messages:,} messages in "
        f"{result.seconds:,.1f} s ({result.failed_sends} refused)\n"
        f"  conversion rate   {100 * result.conversion_rate:.1f} %   (oracle, expected, same "
        f"messages: {100 * result.oracle_rate:.1f} %; in-process oracle run: "
        f"{100 * oracle.conversion_rate:.1f} %)\n"
        f"  routes            "
        + ", ".join(f"{r} {result.routes.count(r):,}" for r in sorted(set(result.routes)) if r)
        + f"\n  reports late by   {result.lateness(0.5):.1f} s (median), "
        f"{result.lateness(0.99):.1f} s (99th percentile), scenario seconds"
    )
    if result.lateness(0.99) > max(2.0, 0.25 * spec.users.delay_median_s):
        click.echo(
            "  warning: the reports came later than a quarter of the users' median delay (or "
            "2 s): the driver or the server fell behind, and the router saw slower users than "
            "the scenario's (try a lower --speed)",
            err=True,
        )
