"""Scenarios: what a carrier network and its users do, read from TOML (``docs/scenarios.md``).

Times are seconds of simulated time from the start; one message is sent every
``interval_s``. Every number is validated on load, with the path of the offending key in
the error, so a typo in a scenario file is a clear message, not a wrong result.
"""

from __future__ import annotations

import itertools
import math
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from convroute.routing.base import Goal, Objective


class ScenarioError(ValueError):
    """A scenario file that cannot be used, with where and why."""


@dataclass(frozen=True, slots=True)
class Point:
    """From ``t`` on, the value is ``value``; with ``ramp``, it moves linearly to ``value``
    from the previous point instead of jumping."""

    t: float
    value: float
    ramp: bool = False


@dataclass(frozen=True, slots=True)
class Curve:
    """A value over time: steps and linear ramps between points."""

    points: tuple[Point, ...]

    def at(self, t: float) -> float:
        """The value at time ``t``."""
        points = self.points
        current = points[0].value
        for i, p in enumerate(points):
            if t < p.t:
                if p.ramp and i > 0:
                    prev = points[i - 1]
                    span = p.t - prev.t
                    return prev.value + (p.value - prev.value) * (t - prev.t) / span
                return current
            current = p.value
        return current

    def changes(self) -> list[float]:
        """The times at which the value starts to change (points that repeat the previous
        value are not changes)."""
        out = []
        for prev, p in itertools.pairwise(self.points):
            if p.value != prev.value:
                out.append(prev.t if p.ramp else p.t)
        return out


@dataclass(frozen=True, slots=True)
class DlrPhase:
    """How a route's receipts behave from ``t`` on.

    ``mode``: ``honest`` (delivered or failed, truthfully), ``none`` (no receipts), ``fake``
    (undelivered messages are reported delivered with probability ``undelivered_share``, or
    as many as needed for ``claim`` of all messages to be reported delivered)."""

    t: float
    mode: str = "honest"
    undelivered_share: float = 0.0
    claim: float | None = None
    delay_s: float = 5.0  # mean of an exponential delay after the receipt's clock starts
    # when that clock starts: at the handset ("arrival", after the latency) or at the
    # submission ("send": a route that says DELIVRD in seconds whatever the handset sees)
    after: str = "arrival"

    def fake_share(self, p_deliver: float) -> float:
        """The probability an undelivered message is reported delivered."""
        if self.mode != "fake":
            return 0.0
        if self.claim is not None:
            return 0.0 if p_deliver >= 1 else max(0.0, (self.claim - p_deliver) / (1 - p_deliver))
        return self.undelivered_share


@dataclass(frozen=True, slots=True)
class RouteSpec:
    """A simulated route: its price, delivery probability over time (per country, or
    ``*``), latency, receipts, submit errors and throughput cap."""

    name: str
    price: float
    deliver: dict[str, Curve]
    latency_s: float = 2.0  # submit to handset; with latency_sigma, the median
    dlr: tuple[DlrPhase, ...] = (DlrPhase(0.0),)
    submit_error: float = 0.0
    throughput: float = 0.0  # messages per second; 0 = unlimited
    latency_sigma: float = 0.0  # > 0: latency log-normal (median latency_s), a tail

    def latency_at(self, z: float) -> float:
        """The latency of a message whose standard normal draw is ``z``."""
        if self.latency_sigma == 0:
            return self.latency_s
        return math.exp(math.log(self.latency_s) + self.latency_sigma * z)

    def curve_for(self, place: str) -> Curve | None:
        """The delivery curve to ``place`` (a country, or ``country/network``): the
        network's, else its country's, else ``*``'s; None if the route does not serve it."""
        curve = self.deliver.get(place)
        if curve is None:
            country = place.split("/", 1)[0]
            curve = self.deliver.get(country) or self.deliver.get("*")
        return curve

    def p_deliver(self, place: str, t: float) -> float:
        """The delivery probability to ``place`` at ``t`` (0 if the route does not serve it)."""
        curve = self.curve_for(place)
        return 0.0 if curve is None else curve.at(t)

    def serves(self, place: str) -> bool:
        """Whether the route serves ``place`` (a country, or ``country/network``)."""
        return (
            place in self.deliver or place.split("/", 1)[0] in self.deliver or "*" in self.deliver
        )

    def dlr_at(self, t: float) -> DlrPhase:
        """The receipt behaviour in force at ``t``."""
        current = self.dlr[0]
        if len(self.dlr) == 1:  # most routes: one behaviour throughout
            return current
        for phase in self.dlr:
            if phase.t <= t:
                current = phase
        return current


def place_of(country: str, network: str | None) -> str:
    """Where a message goes, as the simulator keys routes' curves and its contexts: the
    country, or ``country/network`` where the network is known."""
    return country if network is None else f"{country}/{network}"


@dataclass(frozen=True, slots=True)
class Destination:
    """A share of the traffic going to one country (and network)."""

    country: str
    share: float
    network: str | None = None

    @property
    def place(self) -> str:
        return place_of(self.country, self.network)


@dataclass(frozen=True, slots=True)
class Users:
    """What users and the customer do: intent to convert once the message arrives, the
    conversion delay, the OTP's validity, and the share of conversions the customer reports."""

    intent: float = 0.92
    delay_median_s: float = 20.0  # 0: conversions are immediate
    delay_sigma: float = 1.0
    window_s: float = 300.0
    otp_expiry_s: float = 600.0
    report_share: float = 1.0
    resend_share: float = 0.0  # P(a user whose code did not work asks for a new one)
    resend_after_s: float = 60.0


@dataclass(frozen=True, slots=True)
class Pumping:
    """From ``start_s`` to ``end_s``, ``share`` of requests are pumped: they never convert,
    whatever the route, and their receipts say delivered."""

    start_s: float
    end_s: float
    share: float


@dataclass(frozen=True, slots=True)
class Scenario:
    """A whole scenario."""

    name: str
    messages: int
    routes: tuple[RouteSpec, ...]
    destinations: tuple[Destination, ...] = (Destination("GB", 1.0),)
    users: Users = field(default_factory=Users)
    objective: Objective = field(default_factory=Objective)
    interval_s: float = 1.0
    pumping: tuple[Pumping, ...] = ()
    description: str = ""
    seeds: int = 100


# -- loading ------------------------------------------------------------------------------------


def load(path: str | Path) -> Scenario:
    """Read and validate a scenario file."""
    p = Path(path)
    try:
        raw = tomllib.loads(p.read_text())
    except FileNotFoundError:
        raise ScenarioError(f"{p}: no such scenario file") from None
    except tomllib.TOMLDecodeError as exc:
        raise ScenarioError(f"{p}: not valid TOML: {exc}") from None
    try:
        return parse(raw)
    except ScenarioError as exc:
        raise ScenarioError(f"{p}: {exc}") from None


def parse(raw: dict[str, Any]) -> Scenario:
    """A scenario from its TOML document (already parsed)."""
    _known(raw, "", {"name", "description", "messages", "interval_s", "seeds", "objective",
                     "users", "destinations", "routes", "pumping"})  # fmt: skip
    routes = tuple(_route(r, f"routes[{i}]") for i, r in enumerate(_list(raw, "routes", "")))
    if not routes:
        raise ScenarioError("routes: at least one route is required")
    names = [r.name for r in routes]
    if len(set(names)) != len(names):
        raise ScenarioError("routes: names must be unique")
    destinations = tuple(
        _destination(d, f"destinations[{i}]")
        for i, d in enumerate(raw.get("destinations", [{"country": "GB", "share": 1.0}]))
    )
    total = sum(d.share for d in destinations)
    if not math.isclose(total, 1.0, abs_tol=1e-6):
        raise ScenarioError(f"destinations: shares must sum to 1, got {total:g}")
    for d in destinations:
        if not any(r.serves(d.place) for r in routes):
            raise ScenarioError(f"destinations: no route serves {d.place}")
    return Scenario(
        name=_str(raw, "name", ""),
        description=str(raw.get("description", "")),
        messages=_int(raw, "messages", "", 1, 100_000_000),
        interval_s=_num(raw.get("interval_s", 1.0), "interval_s", 1e-6, 86_400),
        seeds=_int({"seeds": raw.get("seeds", 100)}, "seeds", "", 1, 100_000),
        routes=routes,
        destinations=destinations,
        users=_users(raw.get("users", {}), "users"),
        objective=_objective(raw.get("objective", {}), "objective"),
        pumping=tuple(_pumping(x, f"pumping[{i}]") for i, x in enumerate(raw.get("pumping", []))),
    )


def _known(raw: dict[str, Any], where: str, keys: set[str]) -> None:
    if not isinstance(raw, dict):
        raise ScenarioError(f"{where or 'the file'}: must be a table")
    unknown = sorted(set(raw) - keys)
    if unknown:
        prefix = f"{where}." if where else ""
        raise ScenarioError(f"{prefix}{unknown[0]}: unknown key (known: {', '.join(sorted(keys))})")


def _at(where: str, key: str) -> str:
    return f"{where}.{key}" if where else key


def _num(value: Any, where: str, lo: float, hi: float) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ScenarioError(f"{where}: must be a number, got {value!r}")
    if not lo <= value <= hi:
        raise ScenarioError(f"{where}: must be between {lo:g} and {hi:g}, got {value!r}")
    return float(value)


def _int(raw: dict[str, Any], key: str, where: str, lo: int, hi: int) -> int:
    value = raw.get(key)
    if value is None:
        raise ScenarioError(f"{_at(where, key)}: is required")
    if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
        raise ScenarioError(f"{_at(where, key)}: must be an integer from {lo} to {hi}")
    return value


def _str(raw: dict[str, Any], key: str, where: str) -> str:
    value = raw.get(key)
    if not isinstance(value, str) or not value.strip():
        raise ScenarioError(f"{_at(where, key)}: is required (a non-empty string)")
    return value.strip()


def _list(raw: dict[str, Any], key: str, where: str) -> list[Any]:
    value = raw.get(key, [])
    if not isinstance(value, list):
        raise ScenarioError(f"{_at(where, key)}: must be an array")
    return value


def _curve(value: Any, where: str) -> Curve:
    """A probability: a number, or points ``[[t, p], [t, p, "ramp"], ...]``."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return Curve((Point(0.0, _num(value, where, 0, 1)),))
    if not isinstance(value, list) or not value:
        raise ScenarioError(f"{where}: must be a probability or a list of [t, p] points")
    points = []
    for i, item in enumerate(value):
        here = f"{where}[{i}]"
        if not isinstance(item, list) or len(item) not in (2, 3):
            raise ScenarioError(f'{here}: must be [t, p] or [t, p, "ramp"]')
        if len(item) == 3 and item[2] != "ramp":
            raise ScenarioError(f'{here}: the third element can only be "ramp"')
        points.append(
            Point(_num(item[0], here, 0, 1e12), _num(item[1], here, 0, 1), len(item) == 3)
        )
    if points[0].t != 0:
        points.insert(0, Point(0.0, points[0].value))
    if any(b.t <= a.t for a, b in itertools.pairwise(points)):
        raise ScenarioError(f"{where}: times must increase")
    return Curve(tuple(points))


def _route(raw: Any, where: str) -> RouteSpec:
    _known(raw, where, {"name", "price", "deliver", "latency_s", "latency_sigma", "dlr",
                        "submit_error", "throughput"})  # fmt: skip
    deliver_raw = raw.get("deliver")
    if deliver_raw is None:
        raise ScenarioError(f"{where}.deliver: is required")
    if isinstance(deliver_raw, dict):
        deliver = {c: _curve(v, f"{where}.deliver.{c}") for c, v in deliver_raw.items()}
    else:
        deliver = {"*": _curve(deliver_raw, f"{where}.deliver")}
    return RouteSpec(
        name=_str(raw, "name", where),
        price=_num(raw.get("price", 0.0), f"{where}.price", 0, 1e6),
        deliver=deliver,
        latency_s=_num(raw.get("latency_s", 2.0), f"{where}.latency_s", 0, 86_400),
        latency_sigma=_latency_sigma(raw, where),
        dlr=_dlr(raw.get("dlr", "honest"), f"{where}.dlr"),
        submit_error=_num(raw.get("submit_error", 0.0), f"{where}.submit_error", 0, 1),
        throughput=_num(raw.get("throughput", 0.0), f"{where}.throughput", 0, 1e9),
    )


_DLR_MODES = ("honest", "none", "fake")
_DLR_CLOCKS = ("arrival", "send")


def _latency_sigma(raw: Any, where: str) -> float:
    sigma = _num(raw.get("latency_sigma", 0.0), f"{where}.latency_sigma", 0, 5)
    if sigma > 0 and raw.get("latency_s", 2.0) <= 0:
        raise ScenarioError(f"{where}.latency_s: must be above 0 with latency_sigma (a median)")
    return sigma


def _dlr(value: Any, where: str) -> tuple[DlrPhase, ...]:
    """``"honest"``/``"none"``/``"fake"``, a table, or a list of tables with ``t``."""
    items = value if isinstance(value, list) else [value]
    phases = []
    for i, item in enumerate(items):
        here = f"{where}[{i}]" if isinstance(value, list) else where
        if isinstance(item, str):
            item = {"mode": item}
        _known(item, here, {"t", "mode", "undelivered_share", "claim", "delay_s", "after"})
        mode = item.get("mode", "honest")
        if mode not in _DLR_MODES:
            raise ScenarioError(f"{here}.mode: must be one of {', '.join(_DLR_MODES)}")
        after = item.get("after", "arrival")
        if after not in _DLR_CLOCKS:
            raise ScenarioError(f"{here}.after: must be one of {', '.join(_DLR_CLOCKS)}")
        claim = item.get("claim")
        phases.append(
            DlrPhase(
                t=_num(item.get("t", 0.0), f"{here}.t", 0, 1e12),
                mode=mode,
                undelivered_share=_num(
                    item.get("undelivered_share", 1.0 if mode == "fake" else 0.0),
                    f"{here}.undelivered_share",
                    0,
                    1,
                ),
                claim=None if claim is None else _num(claim, f"{here}.claim", 0, 1),
                delay_s=_num(item.get("delay_s", 5.0), f"{here}.delay_s", 0, 86_400),
                after=after,
            )
        )
    phases.sort(key=lambda p: p.t)
    if phases[0].t != 0:
        phases.insert(0, DlrPhase(0.0))
    return tuple(phases)


def _destination(raw: Any, where: str) -> Destination:
    _known(raw, where, {"country", "network", "share"})
    network = raw.get("network")
    return Destination(
        country=_str(raw, "country", where).upper(),
        share=_num(raw.get("share", 1.0), f"{where}.share", 0, 1),
        network=str(network) if network else None,
    )


def _users(raw: Any, where: str) -> Users:
    _known(raw, where, {"intent", "delay_median_s", "delay_sigma", "window_s", "otp_expiry_s",
                        "report_share", "resend_share", "resend_after_s"})  # fmt: skip
    return Users(
        intent=_num(raw.get("intent", 0.92), f"{where}.intent", 0, 1),
        delay_median_s=_num(raw.get("delay_median_s", 20.0), f"{where}.delay_median_s", 0, 1e6),
        delay_sigma=_num(raw.get("delay_sigma", 1.0), f"{where}.delay_sigma", 0, 10),
        window_s=_num(raw.get("window_s", 300.0), f"{where}.window_s", 0, 30 * 86_400),
        otp_expiry_s=_num(raw.get("otp_expiry_s", 600.0), f"{where}.otp_expiry_s", 0, 1e9),
        report_share=_num(raw.get("report_share", 1.0), f"{where}.report_share", 0, 1),
        resend_share=_num(raw.get("resend_share", 0.0), f"{where}.resend_share", 0, 1),
        resend_after_s=_num(raw.get("resend_after_s", 60.0), f"{where}.resend_after_s", 0, 1e6),
    )


def _objective(raw: Any, where: str) -> Objective:
    _known(raw, where, {"goal", "lam", "epsilon"})
    goal = raw.get("goal", "value" if raw.get("lam") else "conversions")
    try:
        parsed = Goal(goal)
    except ValueError:
        known = ", ".join(g.value for g in Goal)
        raise ScenarioError(f"{where}.goal: must be one of {known}") from None
    return Objective(
        parsed,
        lam=_num(raw.get("lam", 0.0), f"{where}.lam", 0, 1e6),
        epsilon=_num(raw.get("epsilon", 0.02), f"{where}.epsilon", 0, 1),
    )


def _pumping(raw: Any, where: str) -> Pumping:
    _known(raw, where, {"start_s", "end_s", "share"})
    start = _num(raw.get("start_s"), f"{where}.start_s", 0, 1e12)
    end = _num(raw.get("end_s"), f"{where}.end_s", 0, 1e12)
    if end <= start:
        raise ScenarioError(f"{where}.end_s: must be after start_s")
    return Pumping(start, end, _num(raw.get("share"), f"{where}.share", 0, 1))
