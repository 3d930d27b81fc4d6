"""Rate-limit counters shared by every instance, in Redis (optional: ``CONVROUTE_REDIS_URL``).

One ``INCRBY`` and one ``PEXPIRE`` per count, pipelined: the count of a window is atomic
across instances, and a window's key disappears after two windows. When Redis does not
answer, the limiter is not the reason to refuse a client: the counter falls back to this
process's own counts (what this instance saw) and says so in the log, once per outage.
"""

from __future__ import annotations

import logging

import redis.asyncio as redis
from redis.exceptions import RedisError

from convroute.services.ratelimit import MemoryCounter

log = logging.getLogger(__name__)


class RedisCounter:
    """Counters in Redis, keyed ``convroute:rl:<key>:<window>``."""

    def __init__(self, url: str) -> None:
        self._client = redis.Redis.from_url(url, socket_timeout=0.5, socket_connect_timeout=0.5)
        self._fallback = MemoryCounter()
        self._down = False
        self.failures = 0

    async def add(self, key: str, window: int, window_ms: int, add: int) -> int:
        name = f"convroute:rl:{key}:{window}"
        try:
            if add:
                pipe = self._client.pipeline(transaction=False)
                pipe.incrby(name, add)
                pipe.pexpire(name, 2 * window_ms)
                count, _ = await pipe.execute()
            else:
                raw = await self._client.get(name)
                count = int(raw or 0)
        except (RedisError, OSError) as exc:
            self.failures += 1
            if not self._down:
                log.warning("rate limits: Redis does not answer (%s); counting per instance", exc)
            self._down = True
            return await self._fallback.add(key, window, window_ms, add)
        if self._down:
            log.info("rate limits: Redis answers again; counting across instances")
            self._down = False
        return int(count)

    async def aclose(self) -> None:
        """Release the connections."""
        await self._client.aclose()
