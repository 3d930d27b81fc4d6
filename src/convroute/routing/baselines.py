"""The baseline policies, what gateways do today (DESIGN 5.7), behind ``LedgerPolicy``:

- ``static``: always the first candidate (the caller orders them: cheapest first, or the best
  known at start). What a gateway with a fixed route table does.
- ``random``, ``round-robin``: spread traffic evenly, as open-source gateways do.
- ``failover``: the first candidate until its receipts say it fails, then the next.
- ``dlr-only``: the route whose receipts say "delivered" most often (what a naive router
  learns; fake receipts fool it).
- ``epsilon-greedy``: the best delay-corrected conversion estimate, exploring uniformly with
  probability epsilon.

Every choice comes with its exact probability under the policy's current state.
"""

from __future__ import annotations

from convroute.routing.base import (
    LedgerPolicy,
    Objective,
    _best,
    _mixed,
    _one_hot,
    _preferred,
)
from convroute.routing.estimates import Ledger
from convroute.routing.policy import Candidate, Context


class Static(LedgerPolicy):
    """Always the preferred candidate: the first of ``preference`` that is a candidate (the
    best route known at start), else the first candidate as given (the cheapest)."""

    name = "static"

    def __init__(self, ledger: Ledger | None = None, preference: list[str] | None = None) -> None:
        super().__init__(ledger)
        self.preference = preference or []

    def _probabilities(
        self,
        context: Context,
        candidates: list[Candidate],
        now_ms: int,
        step: bool,
        objective: Objective | None = None,
    ) -> dict[str, float]:
        return _one_hot(candidates, _preferred(candidates, self.preference)[0].route_id)


class RandomChoice(LedgerPolicy):
    name = "random"

    def _probabilities(
        self,
        context: Context,
        candidates: list[Candidate],
        now_ms: int,
        step: bool,
        objective: Objective | None = None,
    ) -> dict[str, float]:
        return {c.route_id: 1.0 / len(candidates) for c in candidates}


class RoundRobin(LedgerPolicy):
    """Each context cycles through its candidates; deterministic given the state."""

    name = "round-robin"

    def __init__(self, ledger: Ledger | None = None) -> None:
        super().__init__(ledger)
        self._turn: dict[Context, int] = {}

    def _probabilities(
        self,
        context: Context,
        candidates: list[Candidate],
        now_ms: int,
        step: bool,
        objective: Objective | None = None,
    ) -> dict[str, float]:
        turn = self._turn.get(context, 0) % len(candidates)
        return _one_hot(candidates, candidates[turn].route_id)

    def _chosen(self, context: Context, route_id: str) -> None:
        self._turn[context] = self._turn.get(context, 0) + 1


class Failover(LedgerPolicy):
    """The first candidate whose recent receipts do not say it fails; the first otherwise."""

    name = "failover"

    def __init__(
        self,
        ledger: Ledger | None = None,
        min_receipts: float = 20.0,
        max_failed: float = 0.5,
        preference: list[str] | None = None,
    ) -> None:
        super().__init__(ledger)
        self.min_receipts = min_receipts
        self.max_failed = max_failed
        self.preference = preference or []

    def _probabilities(
        self,
        context: Context,
        candidates: list[Candidate],
        now_ms: int,
        step: bool,
        objective: Objective | None = None,
    ) -> dict[str, float]:
        candidates = _preferred(candidates, self.preference)
        for c in candidates:
            arm = self.ledger.arms.get((context, c.route_id))
            if arm is None or arm.dlr_seen < self.min_receipts:
                return _one_hot(candidates, c.route_id)
            if 1.0 - arm.dlr_delivered / arm.dlr_seen <= self.max_failed:
                return _one_hot(candidates, c.route_id)
        return _one_hot(candidates, candidates[0].route_id)


class DlrOnly(LedgerPolicy):
    """Greedy on the share of receipts saying delivered, exploring with ``epsilon``."""

    name = "dlr-only"

    def __init__(self, ledger: Ledger | None = None, epsilon: float = 0.05) -> None:
        super().__init__(ledger)
        self.epsilon = epsilon

    def _probabilities(
        self,
        context: Context,
        candidates: list[Candidate],
        now_ms: int,
        step: bool,
        objective: Objective | None = None,
    ) -> dict[str, float]:
        rates = [
            1.0 if e.dlr_rate is None else e.dlr_rate  # untried: optimistic
            for e in self.estimates(context, candidates, now_ms)
        ]
        return _mixed(candidates, _best(candidates, rates), self.epsilon)


class EpsilonGreedy(LedgerPolicy):
    """Greedy on the delay-corrected conversion estimate's value, exploring with ``epsilon``."""

    name = "epsilon-greedy"

    def __init__(
        self,
        ledger: Ledger | None = None,
        epsilon: float = 0.1,
        objective: Objective | None = None,
    ) -> None:
        super().__init__(ledger)
        self.epsilon = epsilon
        self.objective = objective or Objective()

    def _probabilities(
        self,
        context: Context,
        candidates: list[Candidate],
        now_ms: int,
        step: bool,
        objective: Objective | None = None,
    ) -> dict[str, float]:
        valued_by = objective or self.objective
        values = [
            valued_by.value(e.mean, c.price)
            for e, c in zip(self.estimates(context, candidates, now_ms), candidates)  # noqa: B905
        ]
        return _mixed(candidates, _best(candidates, values), self.epsilon)
