"""Networks inside a country: a route's curve per ``country/network`` (falling back to the
country's, then ``*``), and each network its own routing context in a run."""

from __future__ import annotations

from convroute.sim.run import simulate
from convroute.sim.scenario import parse, place_of

TWO_NETWORKS = {
    "name": "networks",
    "messages": 6000,
    "destinations": [
        {"country": "GB", "network": "EE", "share": 0.5},
        {"country": "GB", "network": "Three", "share": 0.5},
    ],
    "routes": [
        {"name": "A", "price": 0.03, "deliver": {"GB/EE": 0.95, "GB/Three": 0.40}},
        {"name": "B", "price": 0.03, "deliver": {"GB/EE": 0.40, "GB/Three": 0.95}},
    ],
}


def test_a_networks_curve_then_its_countrys_then_anywhere() -> None:
    s = parse({"name": "x", "messages": 1, "routes": [
        {"name": "A", "deliver": {"GB/EE": 0.9, "GB": 0.5, "*": 0.1}},
        {"name": "B", "deliver": {"GB": 0.7}},
    ]})  # fmt: skip
    a, b = s.routes
    assert place_of("GB", "EE") == "GB/EE"
    assert place_of("GB", None) == "GB"
    assert a.p_deliver("GB/EE", 0) == 0.9
    assert a.p_deliver("GB/O2", 0) == 0.5
    assert a.p_deliver("FR", 0) == 0.1
    assert b.serves("GB/Three")
    assert not b.serves("FR/Orange")


def test_each_network_is_routed_on_its_own() -> None:
    s = parse(TWO_NETWORKS)
    oracle = simulate(s, "oracle", seed=4)
    ours = simulate(s, "convroute", seed=4)
    static = simulate(s, "static", seed=4)
    # one route for the whole country (the static policy) delivers (0.95 + 0.40) / 2 of the
    # messages; the oracle, each network to its own route, 0.95
    assert oracle.conversions > 1.3 * static.conversions
    assert ours.conversions > 0.95 * oracle.conversions


def test_reactions_are_each_destinations_own() -> None:
    # the best route differs between the two networks, message after message: not a change
    assert simulate(parse(TWO_NETWORKS), "convroute", seed=1).reactions == []
    # one change of one network's best route: one reaction, in that network's messages
    changing = {
        **TWO_NETWORKS,
        "routes": [
            {"name": "A", "price": 0.03,
             "deliver": {"GB/EE": [[0, 0.95], [3000, 0.30]], "GB/Three": 0.40}},
            {"name": "B", "price": 0.03, "deliver": {"GB/EE": 0.60, "GB/Three": 0.95}},
        ],
    }  # fmt: skip
    (reaction,) = simulate(parse(changing), "convroute", seed=1).reactions
    assert reaction is not None
    assert 0 < reaction < 600  # messages to GB/EE after its change
