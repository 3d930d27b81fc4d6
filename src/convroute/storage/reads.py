"""The store's reads for operators and connectors: route activity, the dashboard's series
and totals, the outbox's and the forwards' counts, the messages an upstream's ids name, the
networks seen, conversion statistics."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from sqlalchemy import Connection, func, select

from convroute.services.ports import Activity, LoggedRow
from convroute.storage import dashboard, offpolicy, views
from convroute.storage import schema as t
from convroute.storage.engines import Engines
from convroute.storage.transaction import SqlTransaction

T = TypeVar("T")


class StoreReads:
    """Mixed into ``SqlStore``."""

    engines: Engines

    def read(self, work: Callable[[Connection], T]) -> T:
        raise NotImplementedError

    def route_activity(
        self, country: str, network: str | None, traffic: str, now_ms: int
    ) -> dict[str, dict[str, Activity]]:
        """See ``views.route_activity``."""
        return self.read(lambda conn: views.route_activity(conn, country, network, traffic, now_ms))

    def route_series(
        self,
        country: str,
        network: str | None,
        traffic: str,
        from_ms: int,
        to_ms: int,
        bucket_ms: int,
        account_id: str | None = None,
    ) -> list[dashboard.RouteSeries]:
        """See ``dashboard.route_series``."""
        return self.read(
            lambda conn: dashboard.route_series(
                conn, country, network, traffic, from_ms, to_ms, bucket_ms, account_id
            )
        )

    def totals(
        self, from_ms: int, to_ms: int, account_id: str | None = None
    ) -> list[dashboard.Total]:
        """See ``dashboard.totals``."""
        return self.read(lambda conn: dashboard.totals(conn, from_ms, to_ms, account_id))

    def outbox_counts(self) -> tuple[int, int]:
        """Messages in the outbox, and those of them waiting for a retry."""
        o = t.outbox.c
        query = select(func.count(), func.count(o.last_error)).select_from(t.outbox)
        pending, retrying = self.read(lambda conn: conn.execute(query).one())
        return int(pending), int(retrying)

    def forward_counts(self) -> tuple[int, int]:
        """Conversions still to forward upstream, and those that failed for good."""
        f = t.forwards.c
        query = select(func.count(f.due_ms), func.count() - func.count(f.due_ms)).select_from(
            t.forwards
        )
        pending, failed = self.read(lambda conn: conn.execute(query).one())
        return int(pending), int(failed)

    def message_of_upstream(self, route_id: str, upstream_id: str) -> tuple[str, str] | None:
        """(message id, account id) of what ``route_id``'s upstream calls ``upstream_id``."""
        return self.read(
            lambda conn: SqlTransaction(conn).message_of_upstream(route_id, upstream_id)
        )

    def account_on_route(self, message_id: str, route_id: str) -> str | None:
        """The account of ``message_id`` if it was routed over ``route_id`` (at any attempt)."""
        d = t.routing_decisions.c
        query = (
            select(d.account_id).where(d.message_id == message_id, d.route_id == route_id).limit(1)
        )
        return self.read(lambda conn: conn.execute(query).scalar())

    def networks_seen(self, country: str, since_ms: int) -> list[str]:
        """See ``views.networks_seen``."""
        return self.read(lambda conn: views.networks_seen(conn, country, since_ms))

    def conversion_stats(
        self, account_id: str, group_by: Sequence[str], from_ms: int | None, to_ms: int | None
    ) -> list[dict[str, Any]]:
        """See ``views.conversion_stats``."""
        return self.read(
            lambda conn: views.conversion_stats(conn, account_id, group_by, from_ms, to_ms)
        )

    def logged_rows(
        self, since_ms: int, until_ms: int, country: str | None = None
    ) -> list[LoggedRow]:
        """The routing decisions of a period (and country) with their messages' outcomes, in
        the order taken: what an offline evaluation replays."""
        return self.read(lambda conn: offpolicy.logged_rows(conn, since_ms, until_ms, country))
