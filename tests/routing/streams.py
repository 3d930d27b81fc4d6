"""Streams of decisions and outcomes that the policy and ledger tests share (Hypothesis)."""

from __future__ import annotations

from hypothesis import strategies as st

from convroute.routing.base import LedgerPolicy
from convroute.routing.policies import make_policy
from convroute.routing.policy import Candidate, Context, Outcome, OutcomeKind

CTX = Context("GB", None, "otp")
ROUTES = [Candidate("a", 0.05), Candidate("b", 0.03), Candidate("c", 0.02)]

_events = st.lists(
    st.tuples(
        st.integers(0, 2),  # which route
        st.integers(0, 600_000),  # sent, ms after start
        st.sampled_from([*OutcomeKind, None]),  # an outcome, or still pending
        st.integers(0, 400_000),  # outcome delay, ms
    ),
    max_size=40,
)


def _replay(
    policy_name: str, events: list[tuple[int, int, OutcomeKind | None, int]]
) -> tuple[LedgerPolicy, list[Outcome]]:
    policy = make_policy(policy_name)
    outcomes = []
    for i, (route, sent, kind, delay) in enumerate(sorted(events, key=lambda e: e[1])):
        policy.ledger.record(f"d{i}", CTX, ROUTES[route].route_id, sent)
        if kind is not None:
            outcomes.append(Outcome(f"d{i}", kind, sent + delay))
    return policy, outcomes
