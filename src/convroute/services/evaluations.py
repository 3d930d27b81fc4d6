"""Offline evaluation of a policy, or of other settings, on the traffic the service logged
(issue 22, DESIGN 5.5): "what would policy X have converted on last week's traffic?", from
the logged decisions and their probabilities, without trying X live.

The logged decisions of the period (and country) are replayed in time order through the
candidate (``evaluation.replay``), which learns as it goes from choices of its own coupled to
the logged ones, with the outcomes the log shows for them (``evaluation.coupling``); its
estimated conversions per decision, and value per decision under the objective, come from
IPS, self-normalised IPS and doubly robust estimators with 95 % intervals, beside what the
logging policy itself achieved. Messages still waiting for their final status, and canceled
ones, are left out.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from convroute.domain.clock import format_iso, parse_iso8601
from convroute.domain.destinations import Destination
from convroute.domain.errors import ValidationError
from convroute.domain.statuses import ConversionStatus, DlrStatus, MessageType, TrafficClass
from convroute.evaluation.coupling import Coupling
from convroute.evaluation.estimators import Estimate, Evaluation
from convroute.evaluation.replay import LoggedStep, RewardModel, estimate, targets
from convroute.routing.base import Goal, LedgerPolicy, Objective
from convroute.routing.delay import ConversionDelay
from convroute.routing.policies import POLICIES, make_policy
from convroute.routing.policy import Candidate, Outcome, OutcomeKind
from convroute.services.ports import LoggedRow
from convroute.services.router import (
    OUTCOME_OF_RECEIPT,
    OUTCOME_OF_STATUS,
    context_of,
    decision_key,
)

SETTINGS: dict[str, tuple[str, ...]] = {
    "convroute": ("explore", "boldness", "z"),
    "epsilon-greedy": ("epsilon",),
    "dlr-only": ("epsilon",),
    "failover": ("min_receipts", "max_failed"),
}
"""What ``--setting K=V`` may change, per policy (the rest have no settings)."""

MAX_RANGE_MS = 31 * 86_400_000
MAX_DECISIONS = 2_000_000  # replayed at once (about a minute and 2 GiB at most)
COUPLING_SEED = 0
"""The seed of the candidate's own choices (``evaluation.coupling``): one question, one
answer."""
REPLAYS = ("coupled", "logged")
"""What the candidate learns from as it is replayed: choices of its own coupled to the
logged ones (the default), or the logged decisions alone (as the logging policy did: for a
policy that learns from its own choices, biased, but for one close to the logging policy the
history it learns from is the log's, not one drawn)."""


def candidate_policy(
    name: str, settings: Mapping[str, float], delay: ConversionDelay, objective: Objective
) -> LedgerPolicy:
    """The policy to evaluate, with its settings changed; ValidationError naming what is
    wrong."""
    if name not in POLICIES:
        raise ValidationError.field("policy", f"must be one of {', '.join(sorted(POLICIES))}")
    policy = make_policy(name, delay, objective)
    allowed = SETTINGS.get(name, ())
    for key, value in settings.items():
        if key not in allowed:
            known = ", ".join(allowed) or "none"
            raise ValidationError.field("setting", f"{name} has no setting {key!r} (has: {known})")
        if not math.isfinite(value) or value < 0:
            raise ValidationError.field("setting", f"{key} must be a number of at least 0")
        if key in ("explore", "epsilon", "max_failed") and value > 1:
            raise ValidationError.field("setting", f"{key} must be at most 1")
        setattr(policy, key, float(value))
    return policy


def parse_settings(pairs: Sequence[str]) -> dict[str, float]:
    """``K=V`` pairs as numbers."""
    out: dict[str, float] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        try:
            if not sep:
                raise ValueError
            out[key.strip()] = float(value)
        except ValueError:
            raise ValidationError.field("setting", f"must be KEY=NUMBER, got {pair!r}") from None
    return out


_UNITS = {"m": 60_000, "h": 3_600_000, "d": 86_400_000}


def parse_moment(value: str, now_ms: int, field: str) -> int:
    """An ISO 8601 time, or a time that long ago: ``30m``, ``24h``, ``7d``."""
    text = value.strip()
    if text[:-1].isdigit() and text[-1:] in _UNITS:
        return now_ms - int(text[:-1]) * _UNITS[text[-1]]
    return parse_iso8601(text, field)


def check_range(since_ms: int, until_ms: int) -> None:
    if until_ms <= since_ms:
        raise ValidationError.field("until", "must be after since")
    if until_ms - since_ms > MAX_RANGE_MS:
        raise ValidationError.field("since", "the period may be at most 31 days")


def logged_steps(rows: Sequence[LoggedRow]) -> tuple[list[LoggedStep], dict[str, list[Outcome]]]:
    """The decisions that came to a final status, as the replay takes them, and each one's
    outcomes (its receipt and final status at their times; a decision whose route refused
    the message, not converted when it was routed again)."""
    last: dict[str, int] = {}
    next_at: dict[tuple[str, int], int] = {}
    for r in rows:
        if r.attempt > 0:
            next_at[(r.message_id, r.attempt - 1)] = r.decided_ms
        last[r.message_id] = max(last.get(r.message_id, 0), r.attempt)
    steps: list[LoggedStep] = []
    outcomes: dict[str, list[Outcome]] = {}
    for r in rows:
        if r.status is None or not r.final or r.status == ConversionStatus.CANCELED:
            continue
        key = decision_key(r.message_id, r.attempt)
        final = r.attempt == last[r.message_id]
        converted = final and r.status == ConversionStatus.CONVERTED
        mine: list[Outcome] = []
        if final:
            kind = OUTCOME_OF_STATUS[ConversionStatus(r.status)] or OutcomeKind.NOT_CONVERTED
            mine.append(Outcome(key, kind, r.status_ms or r.decided_ms))
            receipt = None if r.dlr_status is None else OUTCOME_OF_RECEIPT[DlrStatus(r.dlr_status)]
            if receipt is not None:
                mine.append(Outcome(key, receipt, r.dlr_ms or r.decided_ms))
        else:
            at = next_at.get((r.message_id, r.attempt), r.decided_ms)
            mine.append(Outcome(key, OutcomeKind.NOT_CONVERTED, at))
        probabilities = [p for _, _, p in r.candidates]
        logged = None if any(p is None for p in probabilities) else tuple(probabilities)
        context = context_of(
            Destination("", r.country, r.network),
            MessageType(r.type),
            TrafficClass(r.traffic_class),
        )
        candidates = tuple(Candidate(i, price) for i, price, _ in r.candidates)
        if r.route_id not in {c.route_id for c in candidates} or r.probability <= 0:
            continue  # (a decision logged without its own route among the candidates)
        steps.append(
            LoggedStep(
                key, context, candidates, r.route_id, r.probability, r.decided_ms, converted,
                logged,  # type: ignore[arg-type]
            )
        )  # fmt: skip
        outcomes[key] = mine
    return steps, outcomes


@dataclass(frozen=True, slots=True)
class OfflineEvaluation:
    """What an offline evaluation found."""

    policy: str
    settings: Mapping[str, float]
    objective: Objective
    since_ms: int
    until_ms: int
    country: str | None
    replay: str
    logged_policies: tuple[str, ...]
    support_logged: float  # share of decisions logged with every candidate's probability
    own_choices: float  # share of decisions the candidate learned from a route of its own
    conversions: Evaluation
    value: Evaluation

    def as_json(self) -> dict[str, Any]:
        def est(e: Estimate, n: int) -> dict[str, float]:
            return {
                "per_decision": round(e.value, 6),
                "low": round(e.low, 6),
                "high": round(e.high, 6),
                "std_error": round(e.std_error, 6),
                "total": round(e.value * n, 2),
            }

        def block(ev: Evaluation) -> dict[str, Any]:
            return {
                "logged_per_decision": round(ev.logged, 6),
                "ips": est(ev.ips, ev.decisions),
                "snips": est(ev.snips, ev.decisions),
                "doubly_robust": est(ev.dr, ev.decisions),
            }

        c = self.conversions
        return {
            "policy": self.policy,
            "settings": dict(self.settings),
            "objective": {
                "goal": self.objective.goal.value,
                "lambda": self.objective.lam,
                "epsilon": self.objective.epsilon,
            },
            "since": format_iso(self.since_ms),
            "until": format_iso(self.until_ms),
            "country": self.country,
            "replay": self.replay,
            "decisions": c.decisions,
            "logged_policies": list(self.logged_policies),
            "conversions": block(c),
            "value": block(self.value),
            "diagnostics": {
                "effective_sample_size": round(c.effective_sample_size, 1),
                "min_logged_propensity": round(c.min_propensity, 6),
                "max_weight": round(c.max_weight, 3),
                "support_logged": round(self.support_logged, 4),
                "own_choices": round(self.own_choices, 4),
                "unsupported_mass": round(c.unsupported_mass, 6),
                "unsupported_decisions": round(c.unsupported_decisions, 6),
            },
            "warnings": list(c.warnings),
        }


def offline_evaluation(
    rows: Sequence[LoggedRow],
    name: str,
    settings: Mapping[str, float],
    delay: ConversionDelay,
    objective: Objective,
    since_ms: int,
    until_ms: int,
    country: str | None = None,
    replay: str = REPLAYS[0],
) -> OfflineEvaluation:
    """Evaluate policy ``name`` (with ``settings``) on the logged ``rows``, replayed as
    ``replay`` says (one of ``REPLAYS``, checked by ``evaluate_period`` before the rows are
    read); ValidationError when there is nothing to evaluate on."""
    policy = candidate_policy(name, settings, delay, objective)
    if len(rows) > MAX_DECISIONS:
        raise ValidationError.field(
            "since",
            f"the period holds {len(rows):,} decisions; at most {MAX_DECISIONS:,} are replayed "
            "at once: narrow it (since, until) or choose a country",
        )
    steps, outcomes = logged_steps(rows)
    if not steps:
        raise ValidationError.field(
            "since", "no logged decision with a final status in this period (and country)"
        )
    coupling = None
    if replay == "coupled":
        coupling = Coupling(steps, outcomes, random.Random(COUPLING_SEED))
    target = targets(policy, steps, outcomes, objective, coupling)
    model = RewardModel(steps)
    conversions = estimate(steps, target, Objective(Goal.CONVERSIONS), model=model)
    value = estimate(steps, target, objective, model=model)
    return OfflineEvaluation(
        policy=name,
        settings=dict(settings),
        objective=objective,
        since_ms=since_ms,
        until_ms=until_ms,
        country=country,
        replay=replay,
        logged_policies=tuple(sorted({r.policy for r in rows})),
        support_logged=sum(s.logged is not None for s in steps) / len(steps),
        own_choices=coupling.drawn / len(steps) if coupling else 0.0,
        conversions=conversions,
        value=value,
    )


def evaluate_period(
    read_rows: Callable[[int, int, str | None], Sequence[LoggedRow]],
    now_ms: int,
    name: str,
    setting_pairs: Sequence[str],
    since: str,
    until: str | None,
    country: str | None,
    installation: Objective,
    delay: ConversionDelay,
    goal: str | None = None,
    lam: float | None = None,
    epsilon: float | None = None,
    replay: str = REPLAYS[0],
) -> OfflineEvaluation:
    """An operator's question as the CLI and the API take it (times as ``parse_moment``
    reads them, ``KEY=NUMBER`` settings, a goal to value by instead of the installation's
    objective, how to replay), checked, and answered from the rows ``read_rows(since,
    until, country)``."""
    if replay not in REPLAYS:
        raise ValidationError.field("replay", f"must be one of {', '.join(REPLAYS)}")
    since_ms = parse_moment(since, now_ms, "since")
    until_ms = now_ms if until is None else parse_moment(until, now_ms, "until")
    check_range(since_ms, until_ms)
    objective = installation
    if goal is not None:
        if goal not in [g.value for g in Goal]:
            raise ValidationError.field("goal", f"must be one of {', '.join(g for g in Goal)}")
        objective = Objective(Goal(goal), lam or 0.0, 0.02 if epsilon is None else epsilon)
    where = country.strip().upper() if country else None
    if where is not None and not (len(where) == 2 and where.isalpha()):
        raise ValidationError.field("country", "must be ISO 3166 alpha-2, e.g. GB")
    settings = parse_settings(setting_pairs)
    rows = read_rows(since_ms, until_ms, where)
    return offline_evaluation(
        rows, name, settings, delay, objective, since_ms, until_ms, where, replay
    )
