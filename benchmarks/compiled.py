"""A copy of the package whose hot modules (the routing engine and the simulator) are compiled
to C extensions with mypyc, mypy's compiler (a dev dependency): the same source, the same
results bit for bit (``tests/sim/test_compiled.py``), about 2.5x faster.

    python -m benchmarks.compiled [--out build/fast]      # ~25 s; `make fast` does it
    PYTHONPATH=build/fast convroute bench routing ...      # runs on the compiled modules

The service and the tests run the plain Python source; only simulations and benchmarks ask for
this copy. It is built from the source as it is when this runs: build it again after a
change (`make fast` does when a source file is newer than the copy).
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import time
from pathlib import Path

SOURCE = Path(__file__).resolve().parents[1] / "src" / "convroute"
DEFAULT_OUT = Path(__file__).resolve().parents[1] / "build" / "fast"

# what a simulated message and a routing decision run through; the rest stays Python
MODULES = (
    "convroute/routing/policy.py",
    "convroute/routing/delay.py",
    "convroute/routing/changes.py",
    "convroute/routing/arms.py",
    "convroute/routing/ledger_state.py",
    "convroute/routing/provisional.py",
    "convroute/routing/ledger.py",
    "convroute/routing/estimates.py",
    "convroute/routing/base.py",
    "convroute/routing/baselines.py",
    "convroute/routing/convroute_policy.py",
    "convroute/routing/policies.py",
    "convroute/routing/anomalies.py",
    "convroute/routing/pumping.py",
    "convroute/routing/watch.py",
    "convroute/sim/scenario.py",
    "convroute/sim/carrier.py",
    "convroute/sim/truth.py",
    "convroute/sim/reactions.py",
    "convroute/sim/run.py",
)


class BuildError(RuntimeError):
    """mypyc or the C compiler failed; the message holds their output."""


def build(out: Path = DEFAULT_OUT, source: Path = SOURCE) -> Path:
    """Copy the package from ``source`` into ``out`` and compile ``MODULES`` there; ``out``.
    The copy is built beside ``out`` and replaces it only once complete."""
    staging = out.with_name(out.name + ".building")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    shutil.copytree(
        source, staging / "convroute", ignore=shutil.ignore_patterns("__pycache__", "*.so")
    )
    done = subprocess.run(
        [sys.executable, "-m", "mypyc", *MODULES],
        cwd=staging,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise BuildError(f"mypyc failed ({done.returncode}):\n{done.stdout}{done.stderr}")
    for scratch in ("build", ".mypy_cache"):  # the generated C and mypy's cache
        shutil.rmtree(staging / scratch, ignore_errors=True)
    shutil.rmtree(out, ignore_errors=True)
    staging.rename(out)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args(argv)
    print(f"compiling {len(MODULES)} modules with mypyc into {args.out} ...", flush=True)
    started = time.perf_counter()
    try:
        build(args.out)
    except BuildError as e:
        print(e, file=sys.stderr)
        return 1
    print(f"done in {time.perf_counter() - started:.0f} s; run with PYTHONPATH={args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
