"""Scenario files: every shipped one loads; mistakes are refused with the key's path."""

from __future__ import annotations

from pathlib import Path

import pytest

from convroute.sim.scenario import Curve, Point, ScenarioError, load, parse

SCENARIOS = sorted((Path(__file__).parents[2] / "scenarios").glob("*.toml"))
BASE = {"name": "x", "messages": 10, "routes": [{"name": "A", "deliver": 0.9}]}


def test_every_routing_md_scenario_ships_and_loads() -> None:
    names = {p.stem for p in SCENARIOS}
    assert {"s1-pb1", "s1-pb2", "s1-pb4", "s2-outage", "s2-outage-nodelay", "s3-grey-route",
            "s3b-grey-route", "s4-prices-drift", "s5-pumping"} <= names  # fmt: skip
    for path in SCENARIOS:
        scenario = load(path)
        assert scenario.name == path.stem
        assert scenario.messages > 0


def test_curves_step_and_ramp() -> None:
    curve = Curve((Point(0, 0.9), Point(100, 0.9), Point(200, 0.5, ramp=True), Point(300, 0.1)))
    assert curve.at(50) == 0.9
    assert curve.at(150) == pytest.approx(0.7)
    assert curve.at(250) == 0.5
    assert curve.at(300) == 0.1
    assert curve.changes() == [100, 300]


def test_s3_grey_route_fakes_receipts_from_8000() -> None:
    s3 = load(Path(__file__).parents[2] / "scenarios" / "s3-grey-route.toml")
    b = next(r for r in s3.routes if r.name == "B")
    assert b.dlr_at(7999).mode == "honest"
    phase = b.dlr_at(8000)
    assert phase.mode == "fake"
    p = b.p_deliver("GB", 8000)
    assert p == 0.30
    assert p + (1 - p) * phase.fake_share(p) == pytest.approx(0.99)


@pytest.mark.parametrize(
    ("change", "needle"),
    [
        ({"messages": 0}, "messages"),
        ({"colour": "red"}, "colour: unknown key"),
        ({"routes": []}, "at least one route"),
        ({"routes": [{"name": "A", "deliver": 1.5}]}, "routes[0].deliver"),
        ({"routes": [{"name": "A", "deliver": [[0, 0.9], [0, 0.5]]}]}, "times must increase"),
        ({"routes": [{"name": "A", "deliver": [[0, 0.9, "jump"]]}]}, "ramp"),
        ({"routes": [{"name": "A"}]}, "routes[0].deliver: is required"),
        ({"routes": [{"name": "A", "deliver": 0.9, "dlr": "lying"}]}, "routes[0].dlr.mode"),
        ({"routes": [{"name": "A", "deliver": 0.9}, {"name": "A", "deliver": 0.5}]}, "unique"),
        ({"destinations": [{"country": "GB", "share": 0.5}]}, "sum to 1"),
        ({"destinations": [{"country": "FR", "share": 1.0}],
          "routes": [{"name": "A", "deliver": {"GB": 0.9}}]}, "no route serves FR"),
        ({"users": {"intent": 2}}, "users.intent"),
        ({"objective": {"goal": "profit"}}, "objective.goal"),
        ({"pumping": [{"start_s": 10, "end_s": 5, "share": 0.4}]}, "pumping[0].end_s"),
    ],
)  # fmt: skip
def test_mistakes_are_refused_with_their_path(change: dict[str, object], needle: str) -> None:
    with pytest.raises(ScenarioError) as raised:
        parse({**BASE, **change})
    assert needle in str(raised.value)


def test_load_names_the_file(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("name = \n")
    with pytest.raises(ScenarioError, match=r"bad\.toml: not valid TOML"):
        load(bad)
    with pytest.raises(ScenarioError, match="no such scenario file"):
        load(tmp_path / "missing.toml")
