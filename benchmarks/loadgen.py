"""A small HTTP/1.1 keep-alive load generator on asyncio streams (uvloop): light enough that
one client process can push a Python server on the same two cores."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass
class Result:
    """What one load phase measured."""

    ok: int = 0
    errors: int = 0
    latencies_ms: list[float] = field(default_factory=list)
    acked: list[bytes] = field(default_factory=list)
    seconds: float = 0.0
    cpu_seconds: float = 0.0  # the load generator's own CPU time over the phase
    server_cpu_seconds: float | None = None  # the server's (its process group), where known
    error_samples: list[str] = field(default_factory=list)  # the first few wrong answers

    @property
    def cpu_share(self) -> float:
        """The load generator's CPU over the phase, as a share of one core."""
        return self.cpu_seconds / self.seconds if self.seconds else 0.0

    @property
    def rate(self) -> float:
        return self.ok / self.seconds if self.seconds else 0.0

    def percentile(self, p: float) -> float:
        if not self.latencies_ms:
            return float("nan")
        ordered = sorted(self.latencies_ms)
        return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))]


RequestFactory = Callable[[int], bytes]


def pregenerated(make: RequestFactory, count: int) -> RequestFactory:
    """``make`` with its first ``count`` requests built before the phase starts: building a
    request (a signed one most: the HMAC, the form, the time) is the load generator's CPU,
    taken from the same two cores as the server's. Beyond ``count``, built on the fly."""
    pool = [make(n) for n in range(count)]
    return lambda n: pool[n] if n < count else make(n)


async def _read_response(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head[9:12])
    length = 0
    for line in head.split(b"\r\n"):
        if line[:15].lower() == b"content-length:":
            length = int(line[15:])
    body = await reader.readexactly(length) if length else b""
    return status, body


async def _client(
    host: str,
    port: int,
    make: RequestFactory,
    start_seq: int,
    step: int,
    stop_at: float,
    result: Result,
    expect: int,
    keep_acks: bool,
    paced: tuple[float, float] | None = None,
) -> None:
    reader, writer = await asyncio.open_connection(host, port)
    seq = start_seq
    try:
        while time.perf_counter() < stop_at:
            t0 = time.perf_counter()
            if paced is not None:  # open loop: request n is due at start + n / rate
                start, rate = paced
                due = start + seq / rate
                if due >= stop_at:
                    break
                if due > t0:
                    await asyncio.sleep(due - t0)
                t0 = due  # (latency from when it was due: no coordinated omission)
            writer.write(make(seq))
            status, body = await _read_response(reader)
            if status == expect:
                result.ok += 1
                result.latencies_ms.append((time.perf_counter() - t0) * 1000)
                if keep_acks:
                    result.acked.append(body)
            else:
                result.errors += 1
                if len(result.error_samples) < 3:
                    result.error_samples.append(f"{status} {body[:200]!r}")
            seq += step
    except (ConnectionError, asyncio.IncompleteReadError):
        result.errors += 1  # the server went away (the kill test does that on purpose)
    finally:
        writer.close()


async def run_load(
    host: str,
    port: int,
    make: RequestFactory,
    connections: int,
    seconds: float,
    expect: int,
    keep_acks: bool = False,
    server_pid: int | None = None,
    rate: float | None = None,
) -> Result:
    """Drive ``connections`` keep-alive clients for ``seconds``; request ``n`` is ``make(n)``.
    With ``server_pid``, the server's CPU time over the phase is read from /proc too. With
    ``rate``, an open loop: requests are sent at ``rate`` a second whatever the answers
    (each client waits for its own, so ``connections`` bounds those in flight), and a
    latency runs from when its request was due."""
    result = Result()
    cpu = time.process_time()
    served = _cpu_of_group(server_pid) if server_pid else None
    start = time.perf_counter()
    stop_at = start + seconds
    paced = None if rate is None else (start, rate)
    await asyncio.gather(
        *[
            _client(host, port, make, i, connections, stop_at, result, expect, keep_acks, paced)
            for i in range(connections)
        ]
    )
    result.seconds = time.perf_counter() - start
    result.cpu_seconds = time.process_time() - cpu
    if served is not None and server_pid:
        now = _cpu_of_group(server_pid)
        result.server_cpu_seconds = None if now is None else now - served
    return result


def _cpu_of_group(pid: int) -> float | None:
    """User + system CPU seconds of ``pid``'s process group (the server and its workers),
    from /proc; None where /proc cannot say."""
    import os
    from pathlib import Path

    ticks = os.sysconf("SC_CLK_TCK")
    total = 0.0
    try:
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                fields = stat.read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[2]) == pid:  # (pgrp: the server is its own group's leader)
                total += (int(fields[11]) + int(fields[12])) / ticks
    except OSError:
        return None
    return total


def http_request(
    method: str,
    path: str,
    token: str | None = None,
    body: bytes = b"",
    authorization: str | None = None,
    content_type: str = "application/json",
) -> bytes:
    """A raw HTTP/1.1 request (``token``: a Bearer token; ``authorization``: any header value)."""
    lines = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1"]
    if token:
        authorization = f"Bearer {token}"
    if authorization:
        lines.append(f"Authorization: {authorization}")
    if body:
        lines += [f"Content-Type: {content_type}", f"Content-Length: {len(body)}"]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body
