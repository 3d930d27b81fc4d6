"""The routing benchmark: every policy, the dynamic oracle and the SMPyBandits policies on
every scenario, the same seeds for all (common random numbers), summarized as mean ± std.

    convroute bench routing --seeds 20
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from convroute.routing.policies import POLICIES
from convroute.sim.run import Prior, Result, compiled, simulate
from convroute.sim.scenario import Scenario, load
from convroute.sim.truth import ORACLE

OURS = (*POLICIES, ORACLE)


@dataclass(frozen=True)
class Run:
    """One (scenario, policy, seed) and what it measured."""

    scenario: str
    policy: str
    seed: int
    conversions: int
    value: float
    regret: float
    reactions: tuple[int | None, ...]
    switches: int
    late_switches: int  # after the first tenth of the run (learning at start left out)
    exploration: float
    cost_per_conversion: float | None
    seconds: float
    flagged_after: tuple[float | None, ...] = ()  # per pumping episode: s until raised
    false_alarms: int = 0  # anomalies raised outside pumping episodes


@lru_cache(maxsize=32)
def _scenario(path: str) -> Scenario:
    return load(path)


Task = tuple[str, str, int, Prior | None]
"""A run: scenario path, policy, seed, and the delay model convroute's policies are told
(None: the scenario's own)."""


def run_one(task: Task | tuple[str, str, int]) -> Run:
    """Run one task (in a worker process)."""
    path, policy, seed = task[0], task[1], task[2]
    prior = task[3] if len(task) > 3 else None
    scenario = _scenario(path)
    started = time.perf_counter()
    if policy in OURS:
        result: Result = simulate(scenario, policy, seed, watch=True, prior=prior)
    else:
        from convroute.bench.smpy import SmpyPolicy

        smpy = SmpyPolicy(policy, scenario, seed, lambda: 0.0)
        result = simulate(scenario, smpy, seed, watch=True)
    return Run(
        scenario=scenario.name,
        policy=policy,
        seed=seed,
        conversions=result.conversions,
        value=result.value,
        regret=result.regret,
        reactions=tuple(result.reactions),
        switches=result.switches,
        late_switches=sum(1 for i in result.switch_at if i >= result.messages // 10),
        exploration=result.exploration,
        cost_per_conversion=result.cost_per_conversion,
        seconds=time.perf_counter() - started,
        flagged_after=tuple(result.pumping_flagged_after),
        false_alarms=result.false_alarms,
    )


def run_all(
    tasks: Sequence[Task | tuple[str, str, int]],
    jobs: int,
    progress: Callable[[int], None] | None = None,
) -> list[Run]:
    """Every task, on ``jobs`` processes."""
    out: list[Run] = []
    if jobs <= 1:
        for task in tasks:
            out.append(run_one(task))
            if progress:
                progress(1)
        return out
    with ProcessPoolExecutor(max_workers=jobs) as pool:
        for run in pool.map(run_one, tasks, chunksize=1):
            out.append(run)
            if progress:
                progress(1)
    return out


def _ms(values: Iterable[float]) -> str:
    xs = list(values)
    if not xs:
        return "-"
    if len(xs) == 1:
        return f"{xs[0]:,.1f}"
    return f"{statistics.mean(xs):,.1f} ± {statistics.stdev(xs):,.1f}"


@dataclass(frozen=True)
class Row:
    """A policy's summary on one scenario."""

    policy: str
    seeds: int
    regret: list[float]
    conversions: list[int]
    values: list[float]
    ratio: list[float]  # of the oracle's conversions (or value, when lam > 0), same seed
    reactions: list[float]
    never: int
    switches: list[int]
    late_switches: list[int]
    exploration: list[float]
    seconds: float
    flagged_after: list[float]  # s from a pumping episode's start until the watch raised it
    not_flagged: int  # pumping episodes the watch did not raise
    false_alarms: list[int]


def summarize(runs: list[Run], lam_of: dict[str, float]) -> dict[str, list[Row]]:
    """scenario -> rows, best regret first."""
    oracle = {(r.scenario, r.seed): r for r in runs if r.policy == ORACLE}
    out: dict[str, list[Row]] = {}
    by: dict[tuple[str, str], list[Run]] = {}
    for r in runs:
        by.setdefault((r.scenario, r.policy), []).append(r)
    for (scenario, policy), rs in by.items():
        lam = lam_of.get(scenario, 0.0)
        ratio = []
        for r in rs:
            o = oracle.get((scenario, r.seed))
            if o is not None:
                ratio.append((r.value / o.value) if lam else (r.conversions / o.conversions))
        reactions = [float(x) for r in rs for x in r.reactions if x is not None]
        out.setdefault(scenario, []).append(
            Row(
                policy=policy,
                seeds=len(rs),
                regret=[r.regret for r in rs],
                conversions=[r.conversions for r in rs],
                values=[r.value for r in rs],
                ratio=ratio,
                reactions=reactions,
                never=sum(1 for r in rs for x in r.reactions if x is None),
                switches=[r.switches for r in rs],
                late_switches=[r.late_switches for r in rs],
                exploration=[r.exploration for r in rs],
                seconds=sum(r.seconds for r in rs),
                flagged_after=[x for r in rs for x in r.flagged_after if x is not None],
                not_flagged=sum(1 for r in rs for x in r.flagged_after if x is None),
                false_alarms=[r.false_alarms for r in rs],
            )
        )
    for rows in out.values():
        rows.sort(key=lambda row: statistics.mean(row.regret))
    return out


def markdown(summary: dict[str, list[Row]], lam_of: dict[str, float], command: str) -> str:
    """The report: one table per scenario."""
    lines = [
        "# Routing benchmark results",
        "",
        f"Produced by `{command}` (see `docs/benchmarks.md` for what each column means),",
        "on the "
        + ("compiled engine and simulator (mypyc)" if compiled() else "Python source")
        + "; s/run is the wall time of one run.",
        "Mean ± standard deviation over seeds; every policy ran on the same seeds (same users,",
        "same network). Regret is the dynamic oracle's expected value minus the policy's.",
        "",
    ]
    for scenario, rows in summary.items():
        lam = lam_of.get(scenario, 0.0)
        pumping = any(row.flagged_after or row.not_flagged for row in rows)
        lines += [
            f"## {scenario}",
            "",
            "| policy | seeds | regret | conversions | "
            + ("value | value / oracle" if lam else "conversions / oracle")
            + " | reaction (messages) | switches | after 10 % | exploration | "
            + ("pumping flagged (s) | " if pumping else "")
            + "false alarms | s/run |",
            "|---|---|---|---|"
            + ("---|---|" if lam else "---|")
            + "---|---|---|---|"
            + ("---|" if pumping else "")
            + "---|---|",
        ]
        for row in rows:
            ratio = _ms(100 * x for x in row.ratio) + " %" if row.ratio else "-"
            reaction = _ms(row.reactions) + (f" ({row.never} never)" if row.never else "")
            cells = [
                row.policy,
                str(row.seeds),
                _ms(row.regret),
                _ms(row.conversions),
                *([_ms(row.values)] if lam else []),
                ratio,
                reaction,
                _ms(row.switches),
                _ms(row.late_switches),
                _ms(100 * x for x in row.exploration) + " %",
                *([_flagged(row)] if pumping else []),
                _ms(row.false_alarms),
                f"{row.seconds / row.seeds:.2f}",
            ]
            lines.append("| " + " | ".join(cells) + " |")
        lines.append("")
    return "\n".join(lines)


def _flagged(row: Row) -> str:
    text = _ms(row.flagged_after)
    if row.not_flagged:
        text = (text + " " if row.flagged_after else "") + f"({row.not_flagged} never)"
    return text


def write(path: Path, text: str) -> None:
    """Write the report, creating its folder."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
