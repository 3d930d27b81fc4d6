"""A server's checkpoints of the router: every ``routing_checkpoint_seconds`` one is made
in a child process (``convroute routes checkpoint``), from the log alone, at a lower CPU
priority, so the server's own GIL and its sends are left alone. Instances and workers on one
database take turns: a child is only started when the latest checkpoint is older than 90 %
of the interval."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import random
import sys

from convroute.bootstrap import Container
from convroute.domain.errors import ConvrouteError

log = logging.getLogger("convroute.routing")


async def checkpoint_periodically(c: Container, rng: random.Random | None = None) -> None:
    """Make a checkpoint when one is due, for as long as the server runs."""
    interval = c.settings.routing_checkpoint_seconds
    rng = rng or random.Random()
    await asyncio.sleep(interval * (0.5 + 0.5 * rng.random()))  # (instances spread out)
    while True:
        try:
            made = await asyncio.to_thread(
                c.checkpoints.store.checkpoint_made, c.checkpoints.routing_key
            )
            if made is None or c.clock() - made >= 0.9 * interval * 1000:
                await make_checkpoint(c, timeout_s=max(60.0, 2 * interval))
        except ConvrouteError as exc:
            log.warning("routing: checking the latest checkpoint failed: %s", exc.message)
        await asyncio.sleep(interval)


async def make_checkpoint(c: Container, timeout_s: float) -> bool:
    """Run ``convroute routes checkpoint`` on the server's database; whether it succeeded."""
    env = {**os.environ, **c.settings.to_env()}
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "convroute.cli", "routes", "checkpoint",
        "--database-url", c.settings.database_url,
        env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    with contextlib.suppress(OSError):  # (it may be done already)
        os.setpriority(os.PRIO_PROCESS, process.pid, 10)
    try:
        out, err = await asyncio.wait_for(process.communicate(), timeout_s)
    except TimeoutError:
        process.kill()
        await process.wait()
        log.warning("routing: the checkpoint took longer than %.0f s and was stopped", timeout_s)
        return False
    if process.returncode != 0:
        tail = err.decode(errors="replace").strip().splitlines()[-3:]
        log.warning("routing: making a checkpoint failed: %s", " / ".join(tail))
        return False
    log.info("routing: %s", out.decode(errors="replace").strip().removeprefix("convroute: "))
    return True
