"""The routing benchmark harness: SMPyBandits behind our interface, the report, the CLI."""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
from click.testing import CliRunner, Result

from convroute.bench.routing import markdown, run_all, summarize
from convroute.bench.smpy import SMPY_POLICIES, SmpyPolicy, problem_of
from convroute.cli import main
from convroute.sim.run import simulate
from convroute.sim.scenario import load, parse

TINY = {
    "name": "tiny",
    "messages": 600,
    "users": {"intent": 1.0, "delay_median_s": 0, "window_s": 0},
    "routes": [
        {"name": "a", "deliver": [[0, 0.2], [300, 0.9]], "latency_s": 0, "dlr": "none"},
        {"name": "b", "deliver": 0.6, "latency_s": 0, "dlr": "none"},
    ],
}


def test_problem_of_a_scenario() -> None:
    pb1 = problem_of(load(Path(__file__).parents[2] / "scenarios" / "s1-pb1.toml"))
    assert (pb1.arms, pb1.horizon, pb1.breakpoints) == (3, 5000, 4)
    assert pb1.changes[1] == [1000, 4000]  # arm 1: 0.5 -> 0.2 at 1000, -> 0.5 at 4000


def test_every_smpy_policy_runs_and_learns() -> None:
    scenario = parse(TINY)
    for name in SMPY_POLICIES:
        result = simulate(scenario, SmpyPolicy(name, scenario, 1, lambda: 0.0), 1)
        assert result.policy == name
        assert result.regret < 0.3 * scenario.messages, name  # better than always wrong


def test_an_smpy_run_is_the_same_under_the_same_seed_whatever_ran_before() -> None:
    # CUSUM explores with Python's global generator, GLR with NumPy's: both are seeded per run
    scenario = parse({**TINY, "messages": 2000})
    for name in ("CUSUM-klUCB", "GLR-klUCB (local)", "DTS"):
        first = simulate(scenario, SmpyPolicy(name, scenario, 3, lambda: 0.0), 3)
        random.random()  # whatever ran before in this process drew from both generators
        np.random.random()
        again = simulate(scenario, SmpyPolicy(name, scenario, 3, lambda: 0.0), 3)
        assert (first.conversions, first.regret) == (again.conversions, again.regret), name


def test_report_has_a_row_per_policy_and_the_oracle_ratio(tmp_path: Path) -> None:
    path = tmp_path / "tiny.toml"
    path.write_text(
        'name = "tiny"\nmessages = 300\n[[routes]]\nname = "a"\ndeliver = 0.9\n'
        '[[routes]]\nname = "b"\ndeliver = 0.5\n'
    )
    tasks = [(str(path), p, s) for p in ("oracle", "static", "convroute", "klUCB") for s in (0, 1)]
    runs = run_all(tasks, jobs=1)
    summary = summarize(runs, {"tiny": 0.0})
    text = markdown(summary, {"tiny": 0.0}, "convroute bench routing")
    assert summary["tiny"][0].policy in ("oracle", "static")
    for policy in ("oracle", "static", "convroute", "klUCB"):
        assert f"| {policy} | 2 |" in text
    assert "100.0 ± 0.0 %" in text  # the oracle against itself
    assert "| false alarms |" in text
    assert "pumping flagged" not in text  # no pumping in this scenario


def test_report_says_how_soon_each_policy_s_traffic_showed_the_pumping(tmp_path: Path) -> None:
    path = tmp_path / "pumped.toml"
    path.write_text(
        'name = "pumped"\nmessages = 2500\n[[routes]]\nname = "a"\ndeliver = 0.95\n'
        '[[routes]]\nname = "b"\ndeliver = 0.90\n'
        "[[pumping]]\nstart_s = 1200\nend_s = 2500\nshare = 0.5\n"
    )
    runs = run_all([(str(path), p, 0) for p in ("static", "random")], jobs=1)
    by_policy = {run.policy: run for run in runs}
    assert by_policy["static"].flagged_after == (None,)  # one route's traffic: cannot tell
    (after,) = by_policy["random"].flagged_after
    assert after is not None
    assert 0 < after < 1300
    text = markdown(summarize(runs, {"pumped": 0.0}), {"pumped": 0.0}, "convroute bench routing")
    assert "| pumping flagged (s) |" in text
    assert "(1 never)" in text


def test_bench_routing_command(tmp_path: Path) -> None:
    path = tmp_path / "tiny.toml"
    path.write_text('name = "tiny"\nmessages = 200\n[[routes]]\nname = "a"\ndeliver = 0.9\n')
    out = tmp_path / "out"
    result = CliRunner().invoke(
        main,
        ["bench", "routing", "--scenario", str(path), "--seeds", "1", "--jobs", "1",
         "--policy", "oracle", "--policy", "convroute", "--out", str(out)],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert (out / "routing.md").read_text().startswith("# Routing benchmark results")
    assert (out / "routing-tiny.png").stat().st_size > 1000
    bad = CliRunner().invoke(main, ["bench", "routing", "--scenario", str(path), "--policy", "x"])
    assert bad.exit_code == 1
    assert "unknown policy 'x'" in bad.output


def test_a_bandit_per_destination_learns_each_networks_best_route() -> None:
    from tests.sim.test_networks import TWO_NETWORKS

    scenario = parse({**TWO_NETWORKS, "messages": 4000})
    pooled = simulate(scenario, SmpyPolicy("klUCB", scenario, 2, lambda: 0.0), 2)
    per = simulate(scenario, SmpyPolicy("klUCB per destination", scenario, 2, lambda: 0.0), 2)
    assert per.policy == "klUCB per destination"
    # one bandit for both networks can only pick one route for both (about 0.675 delivered);
    # one per network finds each network's own (0.95)
    assert per.conversions > 1.2 * pooled.conversions
    ee = problem_of(scenario, "GB/EE", 0.5)
    assert (ee.arms, ee.horizon) == (2, 2000)


def _bench_on_two_routes(tmp_path: Path, messages: int, *options: str) -> Result:
    """``convroute bench routing`` on a one-destination scenario of two routes, one seed."""
    path = tmp_path / "two.toml"
    path.write_text(
        f'name = "two"\nmessages = {messages}\n[[routes]]\nname = "a"\ndeliver = 0.9\n'
        '[[routes]]\nname = "b"\ndeliver = 0.5\n'
    )
    return CliRunner().invoke(
        main,
        ["bench", "routing", "--scenario", str(path), "--seeds", "1", "--jobs", "1",
         "--out", str(tmp_path), *options],
    )  # fmt: skip


def test_bench_routing_runs_per_destination_bandits_only_where_destinations_differ(
    tmp_path: Path,
) -> None:
    result = _bench_on_two_routes(tmp_path, 200)
    assert result.exit_code == 0, result.output
    assert "| klUCB |" in result.output
    assert "per destination" not in result.output


def test_the_policy_can_be_told_a_wrong_delay_model() -> None:
    scenario = load(Path(__file__).parents[2] / "scenarios" / "s2-outage.toml")
    u = scenario.users
    own = simulate(scenario, "convroute", 1, watch=True)
    same = simulate(scenario, "convroute", 1, watch=True, prior=(u.delay_median_s, u.delay_sigma))
    wrong = simulate(scenario, "convroute", 1, watch=True, prior=(80.0, u.delay_sigma))
    assert (same.conversions, same.regret) == (own.conversions, own.regret)  # the same model
    assert wrong.regret != own.regret  # it routes on what it is told
    # the same users and network either way: only the policy's beliefs differ
    assert wrong.oracle_expected_value == own.oracle_expected_value


def test_simulate_and_bench_take_the_assumed_delay(tmp_path: Path) -> None:
    s2 = str(Path(__file__).parents[2] / "scenarios" / "s2-outage-nodelay.toml")
    out = CliRunner().invoke(
        main, ["simulate", s2, "--seed", "2", "--assume-delay-median", "5"]
    )  # fmt: skip
    assert out.exit_code == 0, out.output
    assert "told median 5 s, sigma" in out.output
    bench = _bench_on_two_routes(
        tmp_path, 300, "--policy", "convroute", "--assume-delay-median", "80"
    )
    assert bench.exit_code == 0, bench.output
    assert "were told a conversion delay of median 80 s and sigma the scenario's" in bench.output
    assert "told a conversion delay" in (tmp_path / "routing.md").read_text()
