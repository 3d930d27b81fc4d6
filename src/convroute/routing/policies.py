"""The routing policies by name (DESIGN 5.7): the baselines (``baselines.py``) and
``convroute``, the default (``convroute_policy.py``), each a ``LedgerPolicy`` (``base.py``)."""

from __future__ import annotations

from collections.abc import Callable

from convroute.routing.base import LedgerPolicy, Objective
from convroute.routing.baselines import (
    DlrOnly,
    EpsilonGreedy,
    Failover,
    RandomChoice,
    RoundRobin,
    Static,
)
from convroute.routing.convroute_policy import FAST_TAU_S, ConvroutePolicy
from convroute.routing.delay import ConversionDelay
from convroute.routing.delay_learn import FIT_EVERY_S, DelayLearner
from convroute.routing.estimates import Ledger

PolicyFactory = Callable[[ConversionDelay, Objective, list[str]], LedgerPolicy]
"""A policy from a delay model, an objective and a route preference (the order an operator
would have configured: the static and failover policies follow it)."""

POLICIES: dict[str, PolicyFactory] = {
    "static": lambda d, o, p: Static(Ledger(d), preference=p),
    "random": lambda d, o, p: RandomChoice(Ledger(d)),
    "round-robin": lambda d, o, p: RoundRobin(Ledger(d)),
    "failover": lambda d, o, p: Failover(Ledger(d), preference=p),
    "dlr-only": lambda d, o, p: DlrOnly(Ledger(d)),
    "epsilon-greedy": lambda d, o, p: EpsilonGreedy(Ledger(d), objective=o),
    "convroute": lambda d, o, p: ConvroutePolicy(Ledger(d, also_tau_s=(FAST_TAU_S,)), objective=o),
}
DEFAULT_POLICY = "convroute"


def make_policy(
    name: str,
    delay: ConversionDelay | None = None,
    objective: Objective | None = None,
    preference: list[str] | None = None,
    learn_delay: bool = False,
    delay_fit_s: float = FIT_EVERY_S,
) -> LedgerPolicy:
    """A new policy by name (see ``POLICIES``); with ``learn_delay``, its ledger learns the
    conversion delay from the conversions it sees, ``delay`` only its prior, fitted every
    ``delay_fit_s`` of its time (``delay_learn``)."""
    try:
        factory = POLICIES[name]
    except KeyError:
        raise ValueError(f"unknown policy {name!r}; known: {', '.join(POLICIES)}") from None
    policy = factory(delay or ConversionDelay(), objective or Objective(), preference or [])
    if learn_delay and policy.ledger.delay.window_s > 0:
        policy.ledger.learner = DelayLearner(policy.ledger.delay, every_s=delay_fit_s)
    return policy
