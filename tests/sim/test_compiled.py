"""The routing engine and the simulator compiled with mypyc (``benchmarks/compiled.py``, what
the benchmarks run on) decide exactly as the Python source: the same runs, bit for bit."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from benchmarks.compiled import build

ROOT = Path(__file__).resolve().parents[2]

# one run per line of the output: every figure a run measures, floats as their exact repr
_RUNS = """
import json, sys
from convroute.sim.run import compiled, simulate
from convroute.sim.scenario import load
# (S5 on seed 4: a seed whose pumping episode the watch flags; one seed in 20, seed 3 since
# the policy learns the delay, sees it raise nothing)
runs = [
    ("scenarios/s2-outage.toml", "convroute", 3),
    ("scenarios/s2-outage.toml", "epsilon-greedy", 3),
    ("scenarios/s4-prices-drift.toml", "convroute", 3),
    ("scenarios/s5-pumping.toml", "convroute", 4),
    ("tests/fixtures/sim-timing.toml", "convroute", 3),
]
for path, policy, seed in runs:
    r = simulate(load(path), policy, seed, watch=True)
    print(json.dumps({
        "compiled": compiled(), "run": [path, policy],
        "figures": [r.conversions, r.reported, repr(r.cost), repr(r.expected_value),
                    repr(r.oracle_expected_value), r.switch_at, r.reactions, r.anomalies,
                    repr(r.exploration), r.resends, r.late],
    }))
"""


def _start(pythonpath: Path | None) -> subprocess.Popen[str]:
    """The runs in a child process, with the package from ``pythonpath`` (None: the source)."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    if pythonpath is not None:
        env["PYTHONPATH"] = str(pythonpath)
    return subprocess.Popen(
        [sys.executable, "-c", _RUNS],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _runs(child: subprocess.Popen[str]) -> list[dict[str, object]]:
    try:
        out, err = child.communicate(timeout=300)
    finally:
        child.kill()
    assert child.returncode == 0, err
    return [json.loads(line) for line in out.splitlines()]


@pytest.mark.timeout(420)  # mypyc compiles the engine first: 35-70 s, longer on a loaded machine
def test_the_compiled_engine_and_simulator_run_exactly_as_the_source(tmp_path: Path) -> None:
    if shutil.which("cc") is None and shutil.which("gcc") is None:
        pytest.skip("NO C COMPILER: mypyc cannot build the compiled modules on this machine")
    source_runs = _start(None)  # (on the other core while mypyc compiles)
    try:
        fast = build(tmp_path / "fast")
    finally:
        source = _runs(source_runs)
    assert any(fast.glob("convroute/routing/estimates.*.so"))
    compiled = _runs(_start(fast))
    assert [r["compiled"] for r in source] == [False] * 5
    assert [r["compiled"] for r in compiled] == [True] * 5
    for a, b in zip(source, compiled, strict=True):
        assert a["run"] == b["run"]
        assert a["figures"] == b["figures"], a["run"]
    # the S5 run saw pumping and raised an episode: the watch's path ran compiled too
    assert source[3]["figures"][7]  # type: ignore[index]
    # the timing run had users reported late: that path ran compiled too
    assert source[4]["figures"][-1]  # type: ignore[index]
