"""The published non-stationary bandits, as implemented by SMPyBandits 0.9.7, behind
convroute's policy interface (the optional ``bench`` extra).

They are fed exactly what convroute's policies are fed: each decision's reward arrives when
the simulated conversion happens or the window closes, through the same event queue, in
the order it arrives (``getReward`` advances their time). Receipts are not rewards and are
not given to them. With a price-aware objective (``lam > 0``) their reward is the decision's
value ``conversion - lam * price``, rescaled to [0, 1].

Tuning as in L. Besson's thesis (ROUTING.md). The import fix: SciPy dropped
``scipy.special.btdtri``, which SMPyBandits imports; ``betaincinv`` is the same function.
"""

from __future__ import annotations

import contextlib
import io
import math
import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from convroute.routing.policy import Candidate, Context, Decision, Outcome, OutcomeKind
from convroute.sim.scenario import Scenario, place_of

POOLED = (
    "Oracle-restart klUCB",
    "GLR-klUCB (local)",
    "GLR-klUCB (global)",
    "CUSUM-klUCB",
    "SW-klUCB",
    "DTS",
    "M-klUCB",
    "klUCB",
    "Thompson",
)
PER_DESTINATION = " per destination"
"""The suffix of a policy run as one bandit per destination (routing context), tuned for that
destination's own horizon and changes, as a careful engineer would deploy it; without it, one
bandit for all destinations (the same thing on a single-destination scenario)."""
SMPY_POLICIES = (*POOLED, *(name + PER_DESTINATION for name in POOLED))


def _smpy() -> Any:
    """SMPyBandits' policies, imported quietly and with the SciPy fix."""
    try:
        import scipy.special
    except ImportError:
        raise RuntimeError(
            "the routing benchmark needs the bench extra: pip install -e '.[bench]'"
        ) from None
    if not hasattr(scipy.special, "btdtri"):
        scipy.special.btdtri = scipy.special.betaincinv
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        try:
            import SMPyBandits.Policies as policies
        except ImportError:
            raise RuntimeError(
                "the routing benchmark needs the bench extra: pip install -e '.[bench]'"
            ) from None
    return policies


@dataclass(frozen=True)
class Problem:
    """What the tuning formulas need: arms, horizon, break-points, and each arm's change
    times (for the oracle-restart policy, which is told them)."""

    arms: int
    horizon: int
    breakpoints: int
    changes: dict[int, list[int]]  # arm -> decision indices at which its mean changes


def problem_of(scenario: Scenario, place: str | None = None, share: float = 1.0) -> Problem:
    """The bandit problem the traffic to ``place`` (default: the first destination) poses,
    when it is ``share`` of all messages: its arms, its horizon, its changes."""
    place = scenario.destinations[0].place if place is None else place
    routes = [r for r in scenario.routes if r.serves(place)]
    interval = scenario.interval_s / share  # (the destination's own messages' spacing)
    changes: dict[int, list[int]] = {}
    times: set[int] = set()
    for i, route in enumerate(routes):
        curve = route.curve_for(place)
        assert curve is not None
        arm_times = sorted({int(t / interval) for t in curve.changes()})
        changes[i] = arm_times
        times.update(arm_times)
    for pump in scenario.pumping:
        times.update((int(pump.start_s / interval), int(pump.end_s / interval)))
    horizon = max(1, round(scenario.messages * share))
    return Problem(len(routes), horizon, max(1, len(times)), changes)


def build(name: str, problem: Problem) -> Any:
    """An SMPyBandits policy by its name in ``SMPY_POLICIES``, tuned for ``problem``."""
    p = _smpy()
    k, t, u = problem.arms, problem.horizon, problem.breakpoints
    log_t = math.log(t)
    with contextlib.redirect_stdout(io.StringIO()):
        if name == "GLR-klUCB (local)":
            return p.BernoulliGLR_IndexPolicy_WithDeterministicExploration(
                k, horizon=t, policy=p.klUCB_forGLR, per_arm_restart=True,
                delta=1 / math.sqrt(k * u * t), alpha0=0.05 * math.sqrt(k * u * log_t / t),
                lazy_detect_change_only_x_steps=10, lazy_try_value_s_only_x_steps=10,
                use_localization=True,
            )  # fmt: skip
        if name == "GLR-klUCB (global)":
            return p.BernoulliGLR_IndexPolicy_WithDeterministicExploration(
                k, horizon=t, policy=p.klUCB_forGLR, per_arm_restart=False,
                delta=1 / math.sqrt(u * t), alpha0=0.05 * math.sqrt(u * log_t / t),
                lazy_detect_change_only_x_steps=10, lazy_try_value_s_only_x_steps=10,
                use_localization=True,
            )  # fmt: skip
        if name == "CUSUM-klUCB":
            return p.CUSUM_IndexPolicy(
                k, horizon=t, max_nb_random_events=u, policy=p.klUCB,
                min_number_of_observation_between_change_point=150, epsilon=0.1,
                lazy_detect_change_only_x_steps=10, per_arm_restart=True,
            )  # fmt: skip
        if name == "SW-klUCB":
            return p.SWklUCB(k, tau=int(2 * math.sqrt(t * log_t / u)))
        if name == "DTS":
            return p.DiscountedThompson(k, gamma=0.95)
        if name == "M-klUCB":
            w = 150
            return p.Monitored_IndexPolicy(
                k, policy=p.klUCB, horizon=t, w=w, b=math.sqrt(w * math.log(2 * k * t))
            )
        if name in ("klUCB", "Oracle-restart klUCB"):
            return p.klUCB(k)
        if name == "Thompson":
            return p.Thompson(k)
    raise ValueError(f"unknown SMPyBandits policy {name!r}; known: {', '.join(SMPY_POLICIES)}")


class _Bandit:
    """One SMPyBandits policy on one fixed list of candidates."""

    def __init__(self, name: str, problem: Problem, candidates: list[Candidate]) -> None:
        self.name = name
        self.problem = problem
        self.policy = build(name, problem)
        self.policy.startGame()
        self.route_of = [c.route_id for c in candidates]
        self.price = [c.price for c in candidates]
        self.restarts = sorted((at, arm) for arm, times in problem.changes.items() for at in times)
        self.decisions = 0

    def choose(self) -> int:
        if self.name == "Oracle-restart klUCB":
            while self.restarts and self.restarts[0][0] <= self.decisions:
                _, arm = self.restarts.pop(0)
                self.policy.pulls[arm] = 0
                self.policy.rewards[arm] = 0.0
        self.decisions += 1
        return int(self.policy.choice())


class SmpyPolicy:
    """An SMPyBandits policy as a convroute policy: one bandit for every destination, or
    (a name ending in ``PER_DESTINATION``) one per destination."""

    def __init__(
        self, name: str, scenario: Scenario, seed: int, clock: Callable[[], float]
    ) -> None:
        import numpy as np

        # SMPyBandits draws from the global generators: NumPy's (ties, GLR's forced exploration,
        # Beta samples) and Python's (CUSUM's and M-UCB's uniform exploration, the binarization
        # of rewards in [0, 1]); seeded per run, a run is the same whatever ran before it.
        np.random.seed(seed % 2**32)
        random.seed(seed)
        self.name = name
        self.per_destination = name.endswith(PER_DESTINATION)
        self._base = name.removesuffix(PER_DESTINATION)
        self._scenario = scenario
        self._shares = {
            place_of(d.country, d.network): d.share for d in scenario.destinations
        }  # fmt: skip
        self._bandits: dict[str, _Bandit] = {}
        self._pending: dict[str, tuple[_Bandit, int]] = {}  # decision -> its bandit and arm
        self._lam = scenario.objective.lam
        self._max_price = max(r.price for r in scenario.routes)

    def _bandit(self, context: Context, candidates: list[Candidate]) -> _Bandit:
        place = place_of(context.country, context.network) if self.per_destination else ""
        bandit = self._bandits.get(place)
        if bandit is None:
            if self.per_destination:
                problem = problem_of(self._scenario, place, self._shares.get(place, 1.0))
            else:
                problem = problem_of(self._scenario)
            bandit = self._bandits[place] = _Bandit(self._base, problem, candidates)
        return bandit

    def probabilities(
        self, context: Context, candidates: list[Candidate], now_ms: int
    ) -> dict[str, float]:
        raise NotImplementedError("SMPyBandits policies do not expose their probabilities")

    def choose(
        self,
        decision_id: str,
        context: Context,
        candidates: list[Candidate],
        now_ms: int,
        rng: random.Random,
    ) -> Decision:
        bandit = self._bandit(context, candidates)
        arm = bandit.choose()
        self._pending[decision_id] = (bandit, arm)
        return Decision(decision_id, bandit.route_of[arm], 1.0, self.name)

    def observe(self, outcome: Outcome) -> None:
        if outcome.kind not in (OutcomeKind.CONVERTED, OutcomeKind.NOT_CONVERTED):
            return
        pending = self._pending.pop(outcome.decision_id, None)
        if pending is None:
            return
        bandit, arm = pending
        reward = 1.0 if outcome.kind is OutcomeKind.CONVERTED else 0.0
        if self._lam:
            low = -self._lam * self._max_price
            reward = (reward - self._lam * bandit.price[arm] - low) / (1.0 - low)
        bandit.policy.getReward(arm, reward)
