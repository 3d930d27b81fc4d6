"""A simulation run as text: what ``convroute simulate`` prints."""

from __future__ import annotations

import math

from convroute.sim.run import Result


def _pct(x: float) -> str:
    return f"{100 * x:.1f} %"


def describe(result: Result, oracle: Result, lam: float) -> str:
    """The run beside the dynamic oracle on the same seed (same users, same network)."""
    lines = [
        f"scenario {result.scenario}: {result.messages:,} messages, seed {result.seed}, "
        f"policy {result.policy}",
        f"  conversion rate   {_pct(result.conversion_rate)}   "
        f"(oracle {_pct(oracle.conversion_rate)})",
        f"  conversions       {result.conversions:,}   (oracle {oracle.conversions:,}: "
        f"{_pct(result.conversions / oracle.conversions if oracle.conversions else 0)})",
    ]
    if lam:
        ratio = result.value / oracle.value if oracle.value else 0.0
        lines.append(
            f"  value             {result.value:,.1f}   (oracle {oracle.value:,.1f}: "
            f"{_pct(ratio)}; value = conversions - {lam:g} x cost)"
        )
    cpc = result.cost_per_conversion
    lines += [
        f"  regret            {result.regret:,.1f}   (expected value lost to the oracle)",
        f"  cost/conversion   {'-' if cpc is None else f'{cpc:.4f}'}   "
        f"(oracle {oracle.cost_per_conversion or 0:.4f})",
        f"  reported          {result.reported:,} conversions reached the router"
        + (f", {result.late:,} received after expiration" if result.late else ""),
    ]
    if result.reactions:
        lines.append(f"  reaction          {reactions(result.reactions)}")
    lines.append(f"  switches          {result.switches}   exploration {_pct(result.exploration)}")
    if result.anomalies is not None:
        lines.append(f"  anomalies         {_anomalies(result)}")
    return "\n".join(lines)


LISTED_REACTIONS = 6
"""Up to this many changes of the best route, each reaction is listed; past it, summarised."""


def reactions(found: list[int | None]) -> str:
    """Messages until the new best route carried most of the traffic, after each change of
    the best route: each one for a few changes, a summary for many (a scenario with many
    destinations has one change per destination and change)."""
    if len(found) <= LISTED_REACTIONS:
        parts = ["never" if r is None else f"{r:,} messages" for r in found]
        return f"{'; '.join(parts)}   (to each change of the best route)"
    seen = sorted(r for r in found if r is not None)
    head = f"{len(seen)} of {len(found)} changes of the best route followed"
    if not seen:
        return head

    def at(q: float) -> int:  # the nearest-rank percentile
        return seen[max(0, math.ceil(q * len(seen)) - 1)]

    return (
        f"{head}, in {at(0.5):,} messages (median; 90th percentile {at(0.9):,}, "
        f"slowest {seen[-1]:,}); never: {len(found) - len(seen)}"
    )


def _anomalies(result: Result) -> str:
    """What the watch raised, and how fast it caught each pumping episode."""
    assert result.anomalies is not None
    parts = [
        f"{kind}{'' if route is None else f' on {route}'} in {country} at {raised:,.0f} s"
        + (f", cleared at {cleared:,.0f} s" if cleared is not None else ", still raised")
        for kind, country, raised, cleared, route in result.anomalies
    ] or ["none raised"]
    for (start, end), after in zip(result.pumping, result.pumping_flagged_after, strict=True):
        caught = "not raised" if after is None else f"raised {after:,.0f} s after it began"
        parts.append(f"pumping {start:,.0f}-{end:,.0f} s: {caught}")
    if result.false_alarms:
        parts.append(f"{result.false_alarms} pumping raised outside pumping")
    return "; ".join(parts)
