"""What happens to one message on a simulated route: submitted or not, delivered or not, what
its receipt says and when, whether its user converts and when (and whether the customer
reports it).

``fate`` is a pure function of the scenario, the route, the destination, the send time and
the message's random numbers (``Draws``). The in-process simulation draws them from its
seeded stream; a service's simulated connector and the HTTP traffic driver derive them from
the message id (``Draws.of_message``), so the carrier (which sends the receipt) and the
handset (where the user converts) agree on the same message without talking to each other.
"""

from __future__ import annotations

import hashlib
import math
import random
import struct
from statistics import NormalDist
from typing import NamedTuple

from convroute.sim.scenario import RouteSpec, Scenario

_NORMAL = NormalDist()


def pumped_share(scenario: Scenario, t: float) -> float:
    """The share of requests that are pumped at ``t``."""
    if not scenario.pumping:
        return 0.0
    return sum(p.share for p in scenario.pumping if p.start_s <= t < p.end_s)


class Draws(NamedTuple):
    """One message's random numbers, drawn whatever the route (common random numbers; a named
    tuple: one is built per simulated message)."""

    pump: float
    submit: float
    deliver: float
    intent: float
    report: float
    dlr: float
    dlr_delay: float
    resend: float
    z_delay: float

    @staticmethod
    def of(rng: random.Random) -> Draws:
        r = rng.random
        # tuple.__new__: a named tuple's own constructor is a Python call, one per message
        return tuple.__new__(Draws, (r(), r(), r(), r(), r(), r(), r(), r(), rng.gauss(0.0, 1.0)))

    @staticmethod
    def of_message(seed: int, message_id: str) -> Draws:
        """The draws of a message, from its id: the same wherever they are computed."""
        digest = hashlib.sha512(f"{seed}:{message_id}".encode()).digest()
        # nine uniforms in (0, 1) from 53-bit slices of the digest
        u = [
            (struct.unpack_from(">Q", digest, 7 * i)[0] >> 11) / 2.0**53 + 2.0**-54
            for i in range(9)
        ]
        return Draws(u[0], u[1], u[2], u[3], u[4], u[5], u[6], u[7], _NORMAL.inv_cdf(u[8]))


def _within(u: float, p: float) -> float:
    """A uniform draw of its own from ``u``, the delivery draw, given which side of ``p`` it
    fell: the latency's, independent of whether the message was delivered (no new draw, so
    the random stream of every other scenario stays the same)."""
    v = u / p if u < p else (u - p) / (1.0 - p)
    return min(max(v, 1e-12), 1.0 - 1e-12)


class Fate(NamedTuple):
    """What happens to a message. Times are seconds after it was sent."""

    submitted: bool
    delivered: bool
    pumped: bool
    converts: bool  # the user converts within the window
    reported: bool  # ... and the customer reports it
    convert_after_s: float  # when the user converts (arrival + delay)
    receipt: str | None  # "delivered", "failed" or None (no receipt)
    receipt_after_s: float
    p_deliver: float
    # the user acts on a code that arrived after it expired (at ``convert_after_s``), and the
    # customer reports it: ``received_after_expiration``
    late: bool


def fate(
    scenario: Scenario,
    route: RouteSpec,
    country: str,
    t: float,
    d: Draws,
    p_deliver: float | None = None,
    queued_s: float = 0.0,
) -> Fate:
    """The fate of a message sent at ``t`` (scenario seconds) on ``route`` to ``country``;
    ``queued_s`` is how long it waited for the route's throughput cap."""
    u = scenario.users
    p = route.p_deliver(country, t) if p_deliver is None else p_deliver
    submitted = d.submit >= route.submit_error
    delivered = submitted and d.deliver < p
    arrival = queued_s + route.latency_s
    if route.latency_sigma > 0:
        arrival = queued_s + route.latency_at(_NORMAL.inv_cdf(_within(d.deliver, p)))
    pumped = d.pump < pumped_share(scenario, t)
    delay_s = 0.0
    if u.delay_median_s > 0:
        delay_s = math.exp(math.log(u.delay_median_s) + u.delay_sigma * d.z_delay)
    acts = delivered and not pumped and d.intent < u.intent and delay_s <= u.window_s
    converts = acts and arrival <= u.otp_expiry_s
    receipt: str | None
    if not submitted:
        receipt, receipt_after = "failed", 0.0
    else:
        phase = route.dlr_at(t)
        if phase.mode == "none":
            receipt = None
        elif delivered or pumped or d.dlr < phase.fake_share(p):
            receipt = "delivered"
        else:
            receipt = "failed"
        clock = arrival if phase.after == "arrival" else queued_s
        receipt_after = clock - phase.delay_s * math.log(1.0 - d.dlr_delay)
    fields = (
        submitted,
        delivered,
        pumped,
        converts,
        converts and d.report < u.report_share,  # reported
        arrival + delay_s,  # convert_after_s
        receipt,
        receipt_after,  # receipt_after_s
        p,  # p_deliver
        acts and not converts and d.report < u.report_share,  # late
    )
    return tuple.__new__(Fate, fields)  # Fate(*fields), without a Python call
