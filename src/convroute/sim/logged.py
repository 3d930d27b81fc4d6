"""A policy whose decisions are logged as the service logs its own (``routing_decisions``:
the context, the candidates, the route taken and its probability; here every candidate's
probability too) with their outcomes, so that a simulated run can be evaluated offline
(``convroute.evaluation``) and the estimate compared with the truth of running the candidate
policy on the same scenario and seed."""

from __future__ import annotations

import random

from convroute.evaluation.replay import LoggedStep
from convroute.routing.base import LedgerPolicy
from convroute.routing.estimates import Ledger
from convroute.routing.policy import Candidate, Context, Decision, Outcome, OutcomeKind

_FINAL = (OutcomeKind.CONVERTED, OutcomeKind.NOT_CONVERTED, OutcomeKind.CANCELED)


class Logged:
    """Decides as ``policy`` does (the same probabilities, the same draw from ``rng``: a run
    with it is the run without it) and keeps the log."""

    def __init__(self, policy: LedgerPolicy) -> None:
        self.policy = policy
        self.name = policy.name
        self._decisions: list[
            tuple[str, Context, tuple[Candidate, ...], str, float, int, tuple[float, ...]]
        ] = []
        self.outcomes: dict[str, list[Outcome]] = {}
        self._final: dict[str, OutcomeKind] = {}

    @property
    def ledger(self) -> Ledger:
        return self.policy.ledger

    def choose(
        self,
        decision_id: str,
        context: Context,
        candidates: list[Candidate],
        now_ms: int,
        rng: random.Random,
    ) -> Decision:
        decision, probabilities = self.policy.decide(decision_id, context, candidates, now_ms, rng)
        everyone = tuple(probabilities.get(c.route_id, 0.0) for c in candidates)
        self._decisions.append(
            (decision_id, context, tuple(candidates), decision.route_id, decision.probability,
             now_ms, everyone)
        )  # fmt: skip
        return decision

    def observe(self, outcome: Outcome) -> None:
        self.policy.observe(outcome)
        self.outcomes.setdefault(outcome.decision_id, []).append(outcome)
        if outcome.kind in _FINAL and outcome.decision_id not in self._final:
            self._final[outcome.decision_id] = outcome.kind

    def steps(self) -> list[LoggedStep]:
        """The logged decisions whose final outcome arrived, in the order taken (those still
        open when the run ended are left out, as the service leaves out pending messages)."""
        out = []
        for decision_id, context, candidates, route_id, p, sent, everyone in self._decisions:
            kind = self._final.get(decision_id)
            if kind is None or kind is OutcomeKind.CANCELED:
                continue
            out.append(
                LoggedStep(
                    decision_id, context, candidates, route_id, p, sent,
                    kind is OutcomeKind.CONVERTED, everyone,
                )
            )  # fmt: skip
        return out
