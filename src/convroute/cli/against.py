"""``convroute simulate --against URL``: a scenario's traffic driven through a running server's
real HTTP APIs.

The driver plays the customer and its users. It points the server's simulated routes at the
scenario (``PATCH /api/v1/routes/{route}``: scenario file, route, seed, ``speed`` and the
``epoch_ms`` at which scenario time 0 is), then sends one message per ``interval_s / speed``
real seconds through the native API. The server routes each message with its live router and
hands it to the route's simulated connector, which sends the scenario's receipts. The driver
derives the same fate from the message id (``sim/carrier.py``): when the user converts, it
reports the conversion through the Plivo dialect at the moment the user would have, so the
router learns from real reports, late, as in production. Unconverted messages are closed by
the server's window sweeper.

Scenario time runs ``speed`` times faster than the clock; for the router's delay model to
match, serve with ``CONVROUTE_ROUTING_DELAY_MEDIAN_SECONDS`` and
``CONVROUTE_ROUTING_WINDOW_SECONDS`` divided by ``speed`` and the account's OTP window set
to the scenario's window divided by ``speed`` (``docs/routing.md``, "End to end").
"""

from __future__ import annotations

import asyncio
import random
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import phonenumbers

from convroute.sim.carrier import Draws, fate
from convroute.sim.scenario import Scenario, ScenarioError, load
from convroute.sim.truth import Truth


class DriveError(Exception):
    """The server or the set-up cannot run the scenario (a clear message for the CLI)."""


@dataclass(frozen=True)
class Credentials:
    """What the driver authenticates with: the operator token (to point routes at the
    scenario), the account's native token (sends) and Plivo credentials (conversions)."""

    admin_token: str
    token: str
    plivo_auth_id: str
    plivo_auth_token: str

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> Credentials:
        """From ``convroute accounts create --json`` output plus ``admin_token`` (the file
        ``convroute serve --demo`` writes)."""
        try:
            creds = doc["credentials"]
            return cls(
                admin_token=doc["admin_token"],
                token=creds["native"]["token"],
                plivo_auth_id=creds["plivo"]["auth_id"],
                plivo_auth_token=creds["plivo"]["auth_token"],
            )
        except (KeyError, TypeError) as exc:
            raise DriveError(
                f"the credentials file lacks {exc}: it must hold admin_token and the "
                "account's native and plivo credentials (as convroute serve --demo writes)"
            ) from None


@dataclass
class Drive:
    """What a driven run measured."""

    messages: int = 0
    failed_sends: int = 0
    conversions: int = 0  # users who converted (and were reported)
    late: int = 0  # users who tried a code that came after it expired (reported as such)
    oracle_rate: float = 0.0  # the dynamic oracle's expected conversion rate, same messages
    routes: list[str] = field(default_factory=list)  # route name of each message, in order
    scenario_times: list[float] = field(default_factory=list)
    seconds: float = 0.0
    # how late each conversion report was acknowledged, in scenario seconds, after its user
    # converted: the server's answer and the driver's own lag (a loaded machine's stalls,
    # multiplied by the speed, make its users look slower than the scenario's)
    report_lateness: list[float] = field(default_factory=list)

    def summary(self) -> str:
        """The run's figures on one line (without the per-message lists)."""
        shares = ", ".join(f"{r} {self.routes.count(r)}" for r in sorted(set(self.routes)) if r)
        return (
            f"{self.messages} messages ({self.failed_sends} refused) in {self.seconds:.1f} s, "
            f"routes {shares}; {self.conversion_rate:.1%} converted (oracle "
            f"{self.oracle_rate:.1%}), {self.late} late; reports late by "
            f"{self.lateness(0.5):.1f} s (median), {self.lateness(0.99):.1f} s (p99), "
            f"{self.lateness(1.0):.1f} s (max), scenario seconds"
        )

    def lateness(self, quantile: float = 0.99) -> float:
        """The reports' lateness at ``quantile`` (scenario seconds; 0 without reports)."""
        if not self.report_lateness:
            return 0.0
        ordered = sorted(self.report_lateness)
        return ordered[min(len(ordered) - 1, int(quantile * len(ordered)))]

    @property
    def conversion_rate(self) -> float:
        return self.conversions / self.messages if self.messages else 0.0

    def share(self, route: str, start: int, end: int) -> float:
        """The share of messages ``start``..``end`` (by index) sent on ``route``."""
        window = self.routes[start:end]
        return window.count(route) / len(window) if window else 0.0


def _number(country: str, rng: random.Random) -> str:
    example = phonenumbers.example_number_for_type(
        country, phonenumbers.PhoneNumberType.MOBILE
    ) or phonenumbers.example_number(country)
    if example is None:
        raise DriveError(f"no example phone number for {country}")
    digits = phonenumbers.format_number(example, phonenumbers.PhoneNumberFormat.E164)
    # vary the last digits, keeping the number range (and so its network)
    return digits[:-3] + f"{rng.randrange(1000):03d}"


async def drive(
    base_url: str,
    scenario_path: Path,
    credentials: Credentials,
    seed: int = 1,
    speed: float = 20.0,
    messages: int | None = None,
    progress: Callable[[int, Counter[str]], None] | None = None,
) -> Drive:
    """Run the scenario (or its first ``messages``) against the server at ``base_url``."""
    try:
        scenario = load(scenario_path)
    except ScenarioError as exc:
        raise DriveError(str(exc)) from None
    total = scenario.messages if messages is None else min(messages, scenario.messages)
    admin = {"Authorization": f"Bearer {credentials.admin_token}"}
    native = {"Authorization": f"Bearer {credentials.token}"}
    plivo = (credentials.plivo_auth_id, credentials.plivo_auth_token)
    names = {r.name for r in scenario.routes}
    rng = random.Random(seed)
    result = Drive()
    truth = Truth(scenario)
    limits = httpx.Limits(max_connections=64, max_keepalive_connections=64)
    async with httpx.AsyncClient(base_url=base_url, timeout=30, limits=limits) as http:
        epoch_ms = await _point_routes(http, admin, scenario, scenario_path, seed, speed)
        started = time.monotonic()
        tasks: set[asyncio.Task[None]] = set()
        seen: Counter[str] = Counter()
        oracle_sum = 0.0
        shares = [(d.country, d.share) for d in scenario.destinations]

        async def report(message_id: str, at_s: float, late: bool = False) -> None:
            await asyncio.sleep(max(0.0, at_s - (time.monotonic() - started)))
            stamp = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
            if late:  # (Plivo's dialect has no such status: the native API's)
                r = await http.post(
                    f"/api/v1/messages/{message_id}/conversions",
                    json={"status": "received_after_expiration", "timestamp": stamp},
                    headers=native,
                )
            else:
                r = await http.post(
                    f"/v1/Account/{plivo[0]}/Message/{message_id}/Conversion/",
                    json={"status": "CONVERTED", "timestamp": stamp},
                    auth=plivo,
                )
            if r.status_code not in (200, 201):
                raise DriveError(f"conversion report refused: {r.status_code} {r.text}")
            result.report_lateness.append((time.monotonic() - started - at_s) * speed)

        async def one(i: int, country: str, dst: str) -> None:
            nonlocal oracle_sum
            r = await http.post(
                "/api/v1/messages",
                json={
                    "src": "convroute",
                    "dst": dst,
                    "text": f"code {i:06d}",
                    "type": "otp",
                    "trackable": True,
                },
                headers=native,
            )
            if r.status_code != 201:
                result.failed_sends += 1
                if result.failed_sends > 10:
                    raise DriveError(f"sends refused: {r.status_code} {r.text}")
                return
            body = r.json()
            route = body["route"]["name"]
            if route not in names:
                raise DriveError(f"the server chose route {route!r}, which is not in the scenario")
            sent_ms = _ms(body["sent_at"])
            t = (sent_ms - epoch_ms) / 1000.0 * speed
            spec = next(x for x in scenario.routes if x.name == route)
            f = fate(scenario, spec, body["country"], t, Draws.of_message(seed, body["id"]))
            now_truth = truth.at(body["country"], t)
            oracle_sum += max(v[1] for v in now_truth.values())
            result.messages += 1
            result.routes[i] = route
            result.scenario_times[i] = t
            seen[route] += 1
            if f.reported or f.late:
                result.conversions += f.reported
                result.late += f.late
                wait = f.convert_after_s / speed + (time.monotonic() - started)
                task = asyncio.create_task(report(body["id"], wait, late=f.late))
                tasks.add(task)
                task.add_done_callback(tasks.discard)

        result.routes = [""] * total
        result.scenario_times = [0.0] * total
        for i in range(total):
            due = i * scenario.interval_s / speed
            await asyncio.sleep(max(0.0, due - (time.monotonic() - started)))
            point, acc, country = rng.random(), 0.0, shares[-1][0]
            for c, share in shares:
                acc += share
                if point < acc:
                    country = c
                    break
            task = asyncio.create_task(one(i, country, _number(country, rng)))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
            if len(tasks) > 256:  # the server is slower than the schedule: wait for it
                await asyncio.wait(list(tasks), return_when=asyncio.FIRST_COMPLETED)
            if progress is not None and i % 50 == 49:
                progress(50, seen)
        while tasks:
            done, _ = await asyncio.wait(list(tasks))
            for task in done:
                task.result()  # a DriveError surfaces here
        result.seconds = time.monotonic() - started
        result.oracle_rate = oracle_sum / result.messages if result.messages else 0.0
    return result


def _ms(iso: str) -> int:
    return int(datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp() * 1000)


async def _point_routes(
    http: httpx.AsyncClient,
    admin: dict[str, str],
    scenario: Scenario,
    scenario_path: Path,
    seed: int,
    speed: float,
) -> int:
    """Point every enabled simulated route at its scenario route; scenario time 0 is now."""
    r = await http.get("/api/v1/routes", headers=admin)
    if r.status_code != 200:
        raise DriveError(f"listing routes failed ({r.status_code}): {r.text}")
    names = {x.name for x in scenario.routes}
    enabled = [x for x in r.json()["routes"] if x["enabled"]]
    strangers = [x["name"] for x in enabled if x["name"] not in names]
    if strangers:
        raise DriveError(
            f"enabled routes not in scenario {scenario.name}: {', '.join(strangers)} "
            f"(disable them, or name routes as the scenario does: {', '.join(sorted(names))})"
        )
    epoch_ms = int(time.time() * 1000)
    path = str(scenario_path.resolve())
    for x in enabled:
        if x["connector"] != "simulated":
            raise DriveError(f"route {x['name']} is not simulated ({x['connector']})")
        config = {
            "scenario": path,
            "route": x["name"],
            "seed": seed,
            "speed": speed,
            "epoch_ms": epoch_ms,
        }
        r = await http.patch(f"/api/v1/routes/{x['id']}", json={"config": config}, headers=admin)
        if r.status_code != 200:
            raise DriveError(f"pointing route {x['name']} at the scenario failed: {r.text}")
    return epoch_ms
