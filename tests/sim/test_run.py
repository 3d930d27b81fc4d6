"""The simulation loop: deterministic under a seed, the oracle is the limit, and small runs
show what each kind of route does to each kind of router."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from convroute.cli import main
from convroute.routing.convroute_policy import FAST_TAU_S, ConvroutePolicy
from convroute.routing.estimates import Ledger
from convroute.routing.policies import make_policy
from convroute.sim.run import delay_of, simulate
from convroute.sim.scenario import Scenario, parse
from convroute.sim.truth import ORACLE


def scenario(**extra: object):  # type: ignore[no-untyped-def]
    raw = {
        "name": "small",
        "messages": 3000,
        "users": {"delay_median_s": 10, "window_s": 120},
        "routes": [
            {"name": "A", "deliver": [[0, 0.95], [1000, 0.05]]},
            {"name": "B", "deliver": 0.85},
        ],
    }
    raw.update(extra)
    return parse(raw)


def test_same_seed_same_run_and_another_seed_differs() -> None:
    s = scenario()
    a, b, c = simulate(s, "convroute", 5), simulate(s, "convroute", 5), simulate(s, "convroute", 6)
    assert (a.conversions, a.expected_value, a.reactions) == (
        b.conversions,
        b.expected_value,
        b.reactions,
    )
    assert a.conversions != c.conversions


def test_the_oracle_is_the_limit() -> None:
    s = scenario()
    oracle = simulate(s, ORACLE, 1)
    assert oracle.regret == pytest.approx(0)
    for policy in ("static", "random", "round-robin", "failover", "dlr-only", "convroute"):
        assert simulate(s, policy, 1).regret > 0, policy


def test_common_random_numbers_make_static_equal_oracle_before_any_change() -> None:
    s = scenario(routes=[{"name": "A", "deliver": 0.95}, {"name": "B", "deliver": 0.85}])
    assert simulate(s, "static", 3).conversions == simulate(s, ORACLE, 3).conversions


def test_an_outage_hurts_static_and_not_the_learning_router() -> None:
    s = scenario()
    static, adaptive, oracle = (simulate(s, p, 2) for p in ("static", "convroute", ORACLE))
    assert adaptive.conversions > 1.3 * static.conversions
    assert adaptive.conversions > 0.9 * oracle.conversions
    (reaction,) = adaptive.reactions
    assert reaction is not None
    assert reaction < 300


def test_fake_receipts_fool_the_dlr_only_router() -> None:
    s = scenario(
        routes=[
            {"name": "A", "deliver": [[0, 0.95], [1000, 0.30]],
             "dlr": [{"t": 0}, {"t": 1000, "mode": "fake", "claim": 0.99}]},
            {"name": "B", "deliver": 0.85},
        ]
    )  # fmt: skip
    dlr_only, adaptive = simulate(s, "dlr-only", 4), simulate(s, "convroute", 4)
    assert adaptive.conversions > 1.2 * dlr_only.conversions


def test_pumping_lowers_every_route_alike() -> None:
    s = scenario(
        routes=[{"name": "A", "deliver": 0.95}, {"name": "B", "deliver": 0.85}],
        pumping=[{"start_s": 1000, "end_s": 2000, "share": 0.5}],
    )
    oracle = simulate(s, ORACLE, 1)
    assert oracle.reactions == []  # the best route never changes
    assert oracle.conversions < simulate(scenario(routes=s_routes()), ORACLE, 1).conversions


def test_a_dip_of_one_route_with_receipts_still_delivered_moves_traffic() -> None:
    # the same dip on A alone, its receipts still saying delivered (a grey route's)
    routes = [
        {"name": "A", "deliver": [[0, 0.957], [3000, 0.57]], "dlr": "fake"},
        {"name": "B", "deliver": 0.913},
        {"name": "C", "deliver": 0.870},
    ]
    for seed in (1, 2):
        result = simulate(scenario(messages=6000, routes=routes, users={}), "convroute", seed)
        assert any(3000 <= i < 3600 for i in result.switch_at), result.switch_at


def s_routes() -> list[dict[str, object]]:
    return [{"name": "A", "deliver": 0.95}, {"name": "B", "deliver": 0.85}]


def test_simulate_command(tmp_path: Path) -> None:
    path = tmp_path / "tiny.toml"
    path.write_text(
        'name = "tiny"\nmessages = 500\n[[routes]]\nname = "A"\ndeliver = 0.9\n'
        '[[routes]]\nname = "B"\ndeliver = [[0, 0.5], [250, 0.95]]\n'
    )
    result = CliRunner().invoke(main, ["simulate", str(path), "--seed", "3"])
    assert result.exit_code == 0, result.output
    assert "scenario tiny: 500 messages, seed 3, policy convroute" in result.output
    assert "oracle" in result.output
    assert "anomalies         none raised" in result.output
    bad = CliRunner().invoke(main, ["simulate", str(tmp_path / "nope.toml")])
    assert bad.exit_code == 1
    assert "no such scenario file" in bad.output


def test_resend_requests_avoid_the_route_that_failed() -> None:
    # A is best at the start (so "static" keeps it) and then delivers nothing; users who got
    # no code ask again after 30 s, and the resend must go to B
    routes = [{"name": "A", "deliver": [[0, 0.95], [1, 0.0]]}, {"name": "B", "deliver": 0.9}]
    users = {"delay_median_s": 10, "window_s": 120, "resend_share": 1.0, "resend_after_s": 30}
    static = simulate(scenario(users=users, routes=routes), "static", 1)
    assert static.resends >= static.messages - 40  # every failed message (the last ones late)
    # the only conversions are the resends', on B: 0.9 x 0.92 of them
    assert static.conversions == pytest.approx(0.9 * 0.92 * static.resends, rel=0.05)
    assert simulate(scenario(routes=routes), "static", 1).resends == 0


def _outage(dlr: object) -> dict[str, object]:
    return {
        "users": {"delay_median_s": 60, "window_s": 600},
        "routes": [
            {"name": "A", "deliver": [[0, 0.95], [1500, 0.10]], "dlr": dlr},
            {"name": "B", "deliver": 0.80},
        ],
    }


def test_honest_receipts_speed_the_reaction_and_fake_ones_gain_nothing() -> None:
    def reaction_and_share(dlr: object) -> tuple[float, float]:
        runs = [simulate(scenario(**_outage(dlr)), "convroute", seed) for seed in range(4)]
        reactions = [r.reactions[0] for r in runs]
        assert all(x is not None for x in reactions)
        return sum(reactions) / 4, sum(r.conversions for r in runs) / 4  # type: ignore[arg-type]

    honest, _ = reaction_and_share("honest")
    silent, silent_conversions = reaction_and_share("none")
    assert honest < 0.7 * silent  # receipts arrive in seconds, conversions in minutes
    # a route that lies ("delivered" on everything from the outage on) fools nobody
    _, faked_conversions = reaction_and_share(
        [{"t": 0, "mode": "honest"}, {"t": 1500, "mode": "fake", "undelivered_share": 1.0}]
    )
    assert faked_conversions >= 0.98 * silent_conversions


THREE_ROUTES = [
    {"name": "A", "deliver": 0.957},
    {"name": "B", "deliver": 0.913},
    {"name": "C", "deliver": 0.870},
]


def pumped(messages: int, start_s: int, end_s: int) -> Scenario:
    """Three steady routes, no conversion delay, 40 % of traffic pumped from start to end."""
    return scenario(
        messages=messages,
        routes=THREE_ROUTES,
        users={},
        pumping=[{"start_s": start_s, "end_s": end_s, "share": 0.4}],
    )


def test_the_watch_raises_pumping_during_the_episode_and_a_drop_for_one_grey_route() -> None:
    pumped_run = pumped(7000, 3000, 5000)
    for policy in ("convroute", "random"):
        result = simulate(pumped_run, policy, 1, watch=True)
        assert result.pumping == [(3000.0, 5000.0)]
        (after,) = result.pumping_flagged_after
        assert after is not None, (policy, result.anomalies)
        assert after <= 600, (policy, result.anomalies)
        assert result.false_alarms == 0
        # the episode, and nothing else: every route dips alike, no route's drop is its own
        assert result.anomalies is not None
        ((kind, country, _, cleared, route),) = result.anomalies
        assert (kind, country, route) == ("pumping", "GB", None)
        assert cleared is not None
        assert 5000 < cleared <= 6200
    assert simulate(pumped_run, "convroute", 1).anomalies is None  # not watched
    grey = [
        {**THREE_ROUTES[0], "deliver": [[0, 0.957], [3000, 0.30]], "dlr": "fake"},
        *THREE_ROUTES[1:],
    ]
    name = THREE_ROUTES[0]["name"]
    for policy in ("convroute", "random"):
        result = simulate(scenario(messages=7000, routes=grey, users={}), policy, 1, watch=True)
        # the grey route's fall is its own drop, raised within minutes, never cleared; where
        # it keeps a third of the traffic (random), its receipts are seen to lie too
        assert result.anomalies is not None
        (kind, country, raised, cleared, route), *rest = result.anomalies
        assert (kind, country, route, cleared) == ("conversion_drop", "GB", name, None)
        assert 3000 < raised <= 3300, (policy, result.anomalies)
        assert [(a[0], a[4], a[3]) for a in rest] == (
            [("receipts_diverge", name, None)] if policy == "random" else []
        )


def test_watching_changes_nothing_the_policy_does() -> None:
    s = scenario(
        users={"delay_median_s": 10, "window_s": 120, "resend_share": 0.5, "resend_after_s": 30},
        pumping=[{"start_s": 1200, "end_s": 2400, "share": 0.4}],
    )
    for policy in ("convroute", "epsilon-greedy"):
        plain, watched = simulate(s, policy, 2), simulate(s, policy, 2, watch=True)
        assert plain.resends > 0
        assert (watched.conversions, watched.regret, watched.switch_at, watched.resends) == (
            plain.conversions,
            plain.regret,
            plain.switch_at,
            plain.resends,
        )


def test_the_default_policy_holds_its_route_through_pumping() -> None:
    s = pumped(8000, 3000, 5500)
    for seed in (1, 2):
        watching = make_policy("convroute", delay_of(s))
        held = simulate(s, watching, seed)
        assert isinstance(watching, ConvroutePolicy)
        assert watching.watch is not None
        (episode,) = watching.watch.anomalies
        assert 3_000_000 <= episode.started_ms <= 3_600_000
        assert episode.cleared_ms is not None
        assert [i for i in held.switch_at if 3000 <= i < 6000] == []
        # the same policy without its watch follows the dip from route to route
        blind = simulate(
            s, ConvroutePolicy(Ledger(delay_of(s), also_tau_s=(FAST_TAU_S,)), watch=False), seed
        )
        assert len([i for i in blind.switch_at if 3000 <= i < 6000]) >= 5
        assert held.regret < blind.regret
