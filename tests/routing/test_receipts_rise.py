"""Receipts that predict a rise (``Basis.RECEIPTS_RISE``): only on a route whose receipts have
proved to tell converting messages from the others, and only while recent conversions do not
contradict them."""

from __future__ import annotations

import random

from convroute.routing.base import Basis
from convroute.routing.convroute_policy import ConvroutePolicy
from convroute.routing.policy import Candidate, Context, Outcome, OutcomeKind

CTX = Context("GB", None, "otp")
CANDIDATES = [Candidate("a", 0.01), Candidate("b", 0.01)]
CONVERT_AFTER_MS = 15_000


class Traffic:
    """Decisions on one route, each with its receipt and, where the user converts, its
    conversion (both at their own times)."""

    def __init__(self, policy: ConvroutePolicy, seed: int = 1) -> None:
        self.policy = policy
        self.rng = random.Random(seed)
        self.n = 0

    def send(
        self, route: str, start_s: float, count: int, every_s: float, delivered: float,
        receipt: str = "honest", converts: bool = True,
    ) -> None:  # fmt: skip
        ledger = self.policy.ledger
        for i in range(count):
            self.n += 1
            decision, sent = f"{route}{self.n}", int((start_s + i * every_s) * 1000)
            ledger.record(decision, CTX, route, sent)
            reached = self.rng.random() < delivered
            says = reached if receipt == "honest" else True  # "fake": always delivered
            kind = OutcomeKind.DLR_DELIVERED if says else OutcomeKind.DLR_FAILED
            self.policy.observe(Outcome(decision, kind, sent + 2_000))
            if reached and converts and self.rng.random() < 0.95:
                at = sent + CONVERT_AFTER_MS
                self.policy.observe(Outcome(decision, OutcomeKind.CONVERTED, at))


def _after_outage(receipt: str, recovered_converts: bool) -> tuple[float, Basis, float]:
    """Route a carried traffic for an hour, failed for half an hour (b carried it, the policy
    stepping as decisions do, so the outage is found), and now sends a few messages whose
    receipts say delivered; 40 s later (their conversions were due after 15 s): a's
    estimate, its basis and the share it gets."""
    policy = ConvroutePolicy(watch=False)
    traffic = Traffic(policy)
    traffic.send("a", 0, 600, 6.0, 0.9, receipt)
    traffic.send("b", 0, 300, 12.0, 0.75, receipt)
    for k in range(36):
        traffic.send("a", 3600 + 50 * k, 1, 30.0, 0.0, receipt)
        traffic.send("b", 3600 + 50 * k, 12, 4.0, 0.75, receipt)
        policy.advance(CTX, CANDIDATES, (3600 + 50 * k) * 1000)
    _, bases = policy.based(CTX, CANDIDATES, 5400_000)
    assert bases[0] is Basis.SINCE_CHANGE  # the outage was found
    traffic.send("a", 5400, 8, 3.0, 0.95, receipt, converts=recovered_converts)
    now = 5440_000
    estimates, bases = policy.based(CTX, CANDIDATES, now)
    shares = policy.probabilities(CTX, CANDIDATES, now)
    return estimates[0].mean, bases[0], shares["a"]


def test_honest_receipts_bring_a_recovered_route_back_before_its_conversions() -> None:
    mean, basis, share = _after_outage("honest", recovered_converts=True)
    assert basis is Basis.RECEIPTS_RISE
    assert mean > 0.5  # what its recent receipts predict through a's calibration
    assert share > 0.1  # tried again: well above the exploration floor


def test_receipts_that_never_said_failed_never_raise_a_route() -> None:
    """A route whose receipts always say delivered has not proved them: its outage showed in
    its conversions only, and its "delivered" now is no evidence of a recovery."""
    _, basis, share = _after_outage("fake", recovered_converts=True)
    assert basis is Basis.SINCE_CHANGE
    assert share <= 0.01


def test_recent_conversions_contradicting_the_receipts_keep_the_route_down() -> None:
    """Receipts say delivered again, but the messages they vouch for are past the time their
    conversions were due and none came: the receipts are not believed."""
    _, basis, share = _after_outage("honest", recovered_converts=False)
    assert basis is Basis.SINCE_CHANGE
    assert share <= 0.01
