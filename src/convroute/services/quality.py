"""Route quality for operators: what the router believes of each candidate route for a
destination, beside what the log shows over recent windows (API and CLI share it)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from convroute.domain.clock import format_iso
from convroute.domain.destinations import Destination
from convroute.domain.errors import ValidationError
from convroute.domain.models import DEFAULT_ROUTING, Account, AccountRouting, Route
from convroute.domain.statuses import MessageType, TrafficClass
from convroute.routing.anomalies import Anomaly, diverging_receipts
from convroute.routing.base import Basis, Objective, View
from convroute.routing.estimates import Estimate
from convroute.routing.policy import Candidate, Context
from convroute.services.objectives import objective_of, routing_json
from convroute.services.ports import Activity
from convroute.services.router import candidates_for, context_of, traffic_of
from convroute.services.routes import check_destination


class RouteReads(Protocol):
    """What a quality report reads from the store."""

    def routes(self, enabled_only: bool = False) -> list[Route]: ...

    def route_activity(
        self, country: str, network: str | None, traffic: str, now_ms: int
    ) -> dict[str, dict[str, Activity]]: ...

    def networks_seen(self, country: str, since_ms: int) -> list[str]: ...


class RouterReads(Protocol):
    """What a quality report reads from the router: a ``LiveRouter`` in this process, or the
    writer process's, asked over its socket (``storage/writerproc.py``, ``RemoteRouter``)."""

    @property
    def name(self) -> str: ...

    @property
    def applied(self) -> int: ...

    def read(
        self,
        context: Context,
        candidates: list[Candidate],
        now_ms: int,
        objective: Objective | None = None,
    ) -> tuple[list[View], list[Estimate]]: ...

    def at_cap(self, now_ms: int) -> dict[str, bool]: ...

    def anomalies(
        self,
        dest: Destination,
        message_type: MessageType,
        traffic_class: TrafficClass,
        since_ms: int,
    ) -> list[Anomaly]: ...

    def anomaly_counts(self) -> dict[str, tuple[int, int]]: ...


@dataclass(frozen=True, slots=True)
class RouteQuality:
    """A candidate route as the router sees it now, for operators."""

    route: Route
    price: float
    estimate: float  # conversion rate the router believes now (delay-corrected)
    evidence: float  # effective number of observations behind it, after forgetting
    basis: Basis
    value: float  # the estimate valued by the objective (rate - lambda * price)
    optimistic: float
    share: float  # probability of being chosen for the next message
    dlr_rate: float | None
    reason: str
    # its receipts say delivered for messages that convert far less than the other routes'
    # delivered ones: (P(convert | delivered) on it, on the others); None if not
    receipts_diverge: tuple[float, float] | None = None


def route_qualities(
    router: RouterReads,
    routes: Sequence[Route],
    dest: Destination,
    message_type: MessageType,
    traffic_class: TrafficClass,
    now_ms: int,
    routing: AccountRouting = DEFAULT_ROUTING,
) -> list[RouteQuality]:
    """Every candidate for ``dest``, as the router sees it now (for an account's messages,
    with ``routing``: its routes and objective), best share first; reads only (the tests
    and the watch run at sends and at the periodic look)."""
    served, candidates = candidates_for(routes, dest, None, routing=routing)
    context = context_of(dest, message_type, traffic_class)
    views, long_term = router.read(context, candidates, now_ms, objective_of(routing))
    diverging = diverging_receipts([c.route_id for c in candidates], long_term)
    best = max(views, key=lambda v: v.probability)
    out = [
        RouteQuality(
            route=route,
            price=price,
            estimate=v.estimate.mean,
            evidence=v.estimate.exposure,
            basis=v.basis,
            value=v.value,
            optimistic=v.optimistic,
            share=v.probability,
            dlr_rate=v.estimate.dlr_rate,
            reason=reason(v, best, router.name),
            receipts_diverge=diverging.get(route.id),
        )
        for (price, route), v in zip(served, views, strict=True)
    ]
    out.sort(key=lambda q: -q.share)
    return out


def reason(view: View, best: View, policy: str) -> str:
    """Why a candidate gets the share it gets, in words."""
    if policy != "convroute":
        return f"share set by the {policy} policy"
    why = {
        Basis.LONG_TERM: "",
        Basis.CHANGED: "; recent conversions depart from its long-term rate: recent evidence used",
        Basis.SINCE_CHANGE: "; its conversion rate changed at a point found in its history: "
        "only the evidence since used",
        Basis.RECEIPTS: "; its receipts, proven predictive on this route, show a drop",
        Basis.RECEIPTS_RISE: "; its receipts, proven honest on this route, show a rise that "
        "recent conversions do not contradict: tried on them",
        Basis.PUMPING: "; SMS pumping is raised for this destination: its rate from before",
    }[view.basis]
    if view is best:
        return "best estimated value" + why
    if view.probability > 0.02:  # above the uniform floor: its optimistic value is high
        return "explored: it may still be better (optimistic rate above the best's value)" + why
    return "only the exploration floor: its estimate is below the best's" + why


def quality_query(
    country: str | None, network: str | None, message_type: str | None, traffic_class: str | None
) -> tuple[Destination, MessageType, TrafficClass]:
    """The destination and traffic a quality report is about, validated."""
    if not country:
        raise ValidationError.field("country", "is required (ISO 3166 alpha-2, e.g. GB)")
    try:
        kind = MessageType(message_type or "otp")
    except ValueError:
        raise ValidationError.field("type", "must be otp, url, promo_code or other") from None
    try:
        klass = TrafficClass(traffic_class or "2fa")
    except ValueError:
        raise ValidationError.field("traffic_class", "must be 2fa or other") from None
    if country.strip() == "*":
        raise ValidationError.field("country", "must be a country, not '*'")
    try:
        entry = check_destination(country, 0.0, network or None)
    except ValidationError as exc:
        raise ValidationError.field("country", exc.message.removeprefix("destinations: ")) from None
    return Destination("", entry.country, entry.network), kind, klass


RECENT = ("5m", "1h", "24h")  # the windows the report shows (``storage/views.py`` counts)


@dataclass(frozen=True, slots=True)
class ReportedRoute:
    """One candidate of the report: what the router believes, beside what the log shows."""

    quality: RouteQuality
    recent: dict[str, Activity]  # by window name, every one of ``RECENT``
    # its connector's connection as this instance holds it (None: not connected here, or
    # read offline), and whether it is at its throughput cap now
    connection: Mapping[str, Any] | None = None
    at_cap: bool = False


@dataclass(frozen=True, slots=True)
class ReportedAnomaly:
    """An anomaly the router's watch raised, with the name of the route it is about."""

    anomaly: Anomaly
    route_name: str | None


@dataclass(frozen=True, slots=True)
class QualityReport:
    """Every candidate route for a destination and traffic, and the anomalies raised."""

    country: str
    network: str | None
    traffic: str
    # the networks this country's traffic was routed under in the last day: ask for one
    # with ``network`` to see what its messages get
    networks_seen: tuple[str, ...]
    policy: str
    log_entries_applied: int
    routes: tuple[ReportedRoute, ...]  # best share first
    # in progress first, newest first
    anomalies: tuple[ReportedAnomaly, ...]
    # the account whose routing the shares and values are under (None: the installation's),
    # and that routing as the API shows it
    account: str | None = None
    routing: Mapping[str, Any] | None = None

    def as_json(self) -> dict[str, Any]:
        """The report as the API (``GET /api/v1/routes/quality``) and ``--json`` show it."""
        return {
            "context": {"country": self.country, "network": self.network, "traffic": self.traffic},
            "account": self.account,
            "routing": None if self.routing is None else dict(self.routing),
            "networks_seen": list(self.networks_seen),
            "policy": self.policy,
            "log_entries_applied": self.log_entries_applied,
            "routes": [_route_json(r) for r in self.routes],
            "anomalies": [_anomaly_json(a) for a in self.anomalies],
        }


def _r6(x: float | None) -> float | None:
    return None if x is None else round(x, 6)


def _route_json(r: ReportedRoute) -> dict[str, Any]:
    q = r.quality
    return {
        "id": q.route.id,
        "name": q.route.name,
        "price": q.price,
        "share": _r6(q.share),
        "estimate": _r6(q.estimate),
        "evidence": _r6(q.evidence),  # young messages weigh little, not 0
        "basis": q.basis.value,
        "value": _r6(q.value),
        "dlr_rate": _r6(q.dlr_rate),
        "reason": q.reason,
        "connection": None if r.connection is None else dict(r.connection),
        "at_cap": r.at_cap,
        # its receipts say delivered for messages that convert far less than the other
        # routes' delivered ones (fake receipts): the two rates, else null
        "receipts_diverge": None
        if q.receipts_diverge is None
        else {
            "converted_if_delivered": _r6(q.receipts_diverge[0]),
            "others_converted_if_delivered": _r6(q.receipts_diverge[1]),
        },
        "recent": {
            name: {
                "sent": w.sent,
                "final": w.final,
                "converted": w.converted,
                "receipts": w.receipts,
                "delivered": w.delivered,
                "conversion_rate": w.conversion_rate,
                "dlr_delivered_rate": w.dlr_delivered_rate,
            }
            for name, w in r.recent.items()
        },
    }


def _anomaly_json(r: ReportedAnomaly) -> dict[str, Any]:
    a = r.anomaly
    return {
        "kind": a.kind,
        "route": r.route_name,
        "route_id": a.route_id,
        "active": a.active,
        "started_at": format_iso(a.started_ms),
        "cleared_at": None if a.cleared_ms is None else format_iso(a.cleared_ms),
        "severity": round(a.severity, 4),  # 0 to 1: the deepest drop (0.4 = -40 %)
        "evidence": {k: round(v, 4) for k, v in a.evidence.items()},
    }


def quality_report(
    store: RouteReads,
    router: RouterReads,
    now: int,
    dest: Destination,
    message_type: MessageType,
    traffic_class: TrafficClass,
    connections: Mapping[str, Mapping[str, Any]] | None = None,
    account: Account | None = None,
) -> QualityReport:
    """Every candidate route for the destination: recent conversion and receipt rates (from
    the store), the router's estimate, share of traffic and why, and what the router's watch
    raised for this traffic in the last day (DESIGN 6: pumping for the destination;
    conversion drops, receipts that diverge, no receipts for a route). ``connections``: each
    route's connection state, where a running instance holds it. ``account``: as that
    account's messages get it (the routes it allows, valued by its objective)."""
    routes = store.routes()
    names = {r.id: r.name for r in routes}
    traffic = traffic_of(message_type, traffic_class)
    routing = DEFAULT_ROUTING if account is None else account.routing
    seen = route_qualities(router, routes, dest, message_type, traffic_class, now, routing)
    activity = store.route_activity(dest.country, dest.network, traffic, now)
    full = router.at_cap(now)
    anomalies = sorted(
        router.anomalies(dest, message_type, traffic_class, now - 86_400_000),
        key=lambda a: (not a.active, -a.started_ms),
    )
    return QualityReport(
        country=dest.country,
        network=dest.network,
        traffic=traffic,
        networks_seen=tuple(store.networks_seen(dest.country, now - 86_400_000)),
        policy=router.name,
        log_entries_applied=router.applied,
        routes=tuple(
            ReportedRoute(
                q,
                {w: activity.get(q.route.id, {}).get(w, Activity()) for w in RECENT},
                (connections or {}).get(q.route.id),
                full.get(q.route.id, False),
            )
            for q in seen
        ),
        anomalies=tuple(
            ReportedAnomaly(a, None if a.route_id is None else names.get(a.route_id, a.route_id))
            for a in anomalies
        ),
        account=None if account is None else account.name,
        routing=None if account is None else routing_json(routing, routes),
    )
