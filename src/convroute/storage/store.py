"""The SQL store: the write port's transactions, credential lookup, account and route
administration, and the read models. The one place where driver errors become ours."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any, TypeVar

from sqlalchemy import Connection, delete, func, insert, or_, select, text, update
from sqlalchemy.exc import IntegrityError, OperationalError, SQLAlchemyError

from convroute.domain.errors import ConflictError, NotFoundError, StorageError, WriteConflict
from convroute.domain.models import Account, AccountRouting, Credential, Route, SignatureMethod
from convroute.domain.statuses import Dialect, MessageType, TrafficClass
from convroute.services.accounts import IssuedCredential, NewAccount
from convroute.services.ports import WriteTransaction
from convroute.storage import schema as t
from convroute.storage import views
from convroute.storage.account_routing import ROUTING_COLUMNS, routing_of_row, routing_values
from convroute.storage.engines import Engines
from convroute.storage.migrate import migrate
from convroute.storage.reads import StoreReads
from convroute.storage.secretbox import SecretBox
from convroute.storage.transaction import SqlTransaction, load_routes

T = TypeVar("T")


@contextmanager
def translate_errors() -> Iterator[None]:
    """Driver and SQLAlchemy errors become ``StorageError``."""
    try:
        yield
    except IntegrityError as exc:
        raise WriteConflict(f"storage conflict: {type(exc.orig).__name__}") from exc
    except OperationalError as exc:
        if getattr(exc.orig, "sqlstate", None) in _RETRYABLE:
            raise WriteConflict(f"storage conflict: {type(exc.orig).__name__}") from exc
        raise StorageError(f"storage failed: {type(exc).__name__}") from exc
    except SQLAlchemyError as exc:
        raise StorageError(f"storage failed: {type(exc).__name__}") from exc


_RETRYABLE = {"40001", "40P01"}  # PostgreSQL: serialization failure, deadlock detected


class SqlStore(StoreReads):
    """Everything convroute keeps, over SQLite or PostgreSQL."""

    def __init__(self, engines: Engines, box: SecretBox) -> None:
        self.engines = engines
        self.box = box

    @property
    def backend(self) -> str:
        """``sqlite`` or ``postgresql``."""
        return self.engines.backend

    def migrate(self) -> None:
        """Bring the schema to the newest version."""
        with translate_errors():
            migrate(self.engines.writer)

    def close(self) -> None:
        """Release every connection."""
        self.engines.dispose()

    def write(self, work: Callable[[WriteTransaction], T]) -> T:
        """Run ``work`` in one write transaction; it is committed when this returns."""
        with translate_errors(), self.engines.writer.begin() as conn:
            return work(SqlTransaction(conn, self.box))

    def read(self, work: Callable[[Connection], T]) -> T:
        """Run ``work`` on a read connection."""
        with translate_errors(), self.engines.reader.connect() as conn:
            return work(conn)

    def ping(self) -> None:
        """Raise StorageError unless the database answers."""
        self.read(lambda conn: conn.execute(text("SELECT 1")).scalar_one())

    # -- credentials and accounts ------------------------------------------------------------

    def find_credential(self, dialect: Dialect, key_id: str) -> tuple[Credential, Account] | None:
        """A credential and its account, by dialect and key id: one revoked (or rotated) is
        returned with its ``revoked_ms``, and the caller decides whether it still works."""
        c, a = t.credentials.c, t.accounts.c
        query = (
            select(
                t.credentials,
                a.name,
                a.created_ms.label("account_created_ms"),
                a.conversions_enabled,
                a.rate_limit_per_second,
                *ROUTING_COLUMNS,
            )
            .join(t.accounts, a.id == c.account_id)
            .where(c.dialect == dialect.value, c.key_id == key_id)
        )
        row = self.read(lambda conn: conn.execute(query).first())
        if row is None:
            return None
        account = Account(
            row.account_id,
            row.name,
            row.account_created_ms,
            row.conversions_enabled,
            row.rate_limit_per_second,
            routing_of_row(row),
        )
        return self._credential(row), account

    def _credential(self, row: Any) -> Credential:
        return Credential(
            id=row.id,
            account_id=row.account_id,
            dialect=Dialect(row.dialect),
            key_id=row.key_id,
            secret_hash=row.secret_hash,
            traffic_class=TrafficClass(row.traffic_class),
            created_ms=row.created_ms,
            workspace_id=row.workspace_id,
            signature_method=SignatureMethod(row.signature_method)
            if row.signature_method
            else None,
            signature_secret=(
                self.box.decrypt(row.signature_secret_enc) if row.signature_secret_enc else None
            ),
            revoked_ms=row.revoked_ms,
        )

    def credential(self, account_id: str, credential_id: str) -> Credential:
        """One of the account's credentials; NotFoundError for another account's."""
        c = t.credentials.c
        query = select(t.credentials).where(c.id == credential_id, c.account_id == account_id)
        row = self.read(lambda conn: conn.execute(query).first())
        if row is None:
            raise NotFoundError(f"credential {credential_id} not found for this account")
        return self._credential(row)

    def list_credentials(self, account_id: str) -> list[dict[str, Any]]:
        """The account's credentials, secrets left out (a bearer key's id is its digest)."""
        c = t.credentials.c
        query = (
            select(
                c.id, c.dialect, c.key_id, c.traffic_class, c.workspace_id, c.created_ms,
                c.revoked_ms,
            )
            .where(c.account_id == account_id)
            .order_by(c.created_ms, c.id)
        )  # fmt: skip
        rows = self.read(lambda conn: [dict(r) for r in conn.execute(query).mappings()])
        for row in rows:  # a bearer key is stored as its digest: show only its start
            if row["dialect"] in (Dialect.NATIVE.value, Dialect.BIRD.value):
                row["key_id"] = "sha256:" + row["key_id"][:12] + "…"
        return rows

    def revoke_credential(self, account_id: str, credential_id: str, at_ms: int) -> int:
        """Make the credential stop working at ``at_ms`` (or earlier, if it already would);
        when it stops. NotFoundError for another account's credential."""
        c = t.credentials.c
        with translate_errors(), self.engines.writer.begin() as conn:
            row = conn.execute(
                select(c.revoked_ms).where(c.id == credential_id, c.account_id == account_id)
            ).first()
            if row is None:
                raise NotFoundError(f"credential {credential_id} not found for this account")
            stops = at_ms if row.revoked_ms is None else min(row.revoked_ms, at_ms)
            conn.execute(
                update(t.credentials).where(c.id == credential_id).values(revoked_ms=stops)
            )
            self._touch(conn, account_id, at_ms)
        return stops

    def set_routing(self, account_id: str, routing: AccountRouting, now_ms: int) -> None:
        """The account's own routing (``AccountRouting()``: the installation's)."""
        self._update_account(account_id, now_ms, **routing_values(routing))

    def set_rate_limit(self, account_id: str, per_second: float | None, now_ms: int) -> None:
        """The account's request rate (None: the installation's default)."""
        self._update_account(account_id, now_ms, rate_limit_per_second=per_second)

    def _touch(self, conn: Connection, account_id: str, now_ms: int) -> None:
        conn.execute(
            update(t.accounts).where(t.accounts.c.id == account_id).values(updated_ms=now_ms)
        )

    def _update_account(self, account_id: str, now_ms: int, **values: Any) -> None:
        with translate_errors(), self.engines.writer.begin() as conn:
            done = conn.execute(
                update(t.accounts)
                .where(t.accounts.c.id == account_id)
                .values(updated_ms=now_ms, **values)
            ).rowcount
        if not done:
            raise NotFoundError(f"account {account_id} not found")

    def credential_watermark(self) -> tuple[Any, ...]:
        """What changes whenever a credential is revoked or an account changed: an instance
        that sees it change forgets the credentials it cached."""
        c, a = t.credentials.c, t.accounts.c

        def read(conn: Connection) -> tuple[Any, ...]:
            revoked = conn.execute(select(func.count(c.revoked_ms), func.max(c.revoked_ms))).one()
            changed = conn.execute(select(func.max(a.updated_ms))).scalar()
            return (*revoked, changed)

        return self.read(read)

    def create_account(self, new: NewAccount) -> None:
        """Persist a new account and its credentials; ConflictError if the name is taken."""
        a = new.account
        try:
            with translate_errors(), self.engines.writer.begin() as conn:
                conn.execute(
                    insert(t.accounts).values(
                        id=a.id,
                        name=a.name,
                        created_ms=a.created_ms,
                        conversions_enabled=a.conversions_enabled,
                    )
                )
                self._insert_credentials(conn, list(new.issued.values()))
        except StorageError as exc:
            if isinstance(exc.__cause__, IntegrityError):
                raise ConflictError(f"an account named {a.name!r} already exists") from exc
            raise

    def add_credential(self, issued: IssuedCredential) -> None:
        """Persist one more credential for an existing account."""
        with translate_errors(), self.engines.writer.begin() as conn:
            self._insert_credentials(conn, [issued])

    def _insert_credentials(self, conn: Connection, issued: Sequence[IssuedCredential]) -> None:
        conn.execute(
            insert(t.credentials),
            [
                {
                    "id": c.id,
                    "account_id": c.account_id,
                    "dialect": c.dialect.value,
                    "key_id": c.key_id,
                    "secret_hash": c.secret_hash,
                    "traffic_class": c.traffic_class.value,
                    "workspace_id": c.workspace_id,
                    "signature_method": c.signature_method.value if c.signature_method else None,
                    "signature_secret_enc": (
                        self.box.encrypt(c.signature_secret) if c.signature_secret else None
                    ),
                    "created_ms": c.created_ms,
                }
                for c in (i.credential for i in issued)
            ],
        )

    def list_accounts(self) -> list[dict[str, Any]]:
        """Accounts with how many live credentials and messages each has."""
        a, c = t.accounts.c, t.credentials.c
        creds = (
            select(c.account_id, func.count().label("n"))
            .where(c.revoked_ms.is_(None))
            .group_by(c.account_id)
            .subquery()
        )
        query = (
            select(
                a.id,
                a.name,
                a.created_ms,
                a.conversions_enabled,
                a.rate_limit_per_second,
                creds.c.n.label("credentials"),
            )
            .select_from(t.accounts.outerjoin(creds, creds.c.account_id == a.id))
            .order_by(a.created_ms, a.name)
        )
        return self.read(lambda conn: [dict(r) for r in conn.execute(query).mappings()])

    def account_by_name(self, name: str) -> Account | None:
        """The account called ``name``, or whose id it is."""
        a = t.accounts.c
        query = select(t.accounts).where(or_(a.name == name, a.id == name))
        row = self.read(lambda conn: conn.execute(query.order_by(a.name == name)).first())
        if row is None:
            return None
        return Account(
            row.id,
            row.name,
            row.created_ms,
            row.conversions_enabled,
            row.rate_limit_per_second,
            routing_of_row(row),
        )

    def set_conversions_enabled(self, account_id: str, enabled: bool, now_ms: int) -> None:
        """Turn conversion reporting on or off for an account."""
        self._update_account(account_id, now_ms, conversions_enabled=enabled)

    def windows(self, account_id: str) -> dict[MessageType, int]:
        """The account's conversion-window overrides, in seconds."""
        overrides = self.read(lambda conn: SqlTransaction(conn).window_overrides([account_id]))
        return overrides.get(account_id, {})

    def set_window(self, account_id: str, message_type: MessageType, seconds: int | None) -> None:
        """Set (or with None, reset to the default) the account's window for a type."""
        w = t.account_windows.c
        with translate_errors(), self.engines.writer.begin() as conn:
            conn.execute(
                delete(t.account_windows).where(
                    w.account_id == account_id, w.type == message_type.value
                )
            )
            if seconds is not None:
                conn.execute(
                    insert(t.account_windows).values(
                        account_id=account_id, type=message_type.value, seconds=seconds
                    )
                )

    # -- routes ------------------------------------------------------------------------------

    def routes(self, enabled_only: bool = False) -> list[Route]:
        """Every route, by name."""
        return self.read(lambda conn: load_routes(conn, enabled_only))

    def route(self, name_or_id: str) -> Route:
        """One route by name or id; NotFoundError otherwise."""
        for route in self.routes():
            if name_or_id in (route.name, route.id):
                return route
        raise NotFoundError(f"no route named {name_or_id!r}")

    def put_setting(self, key: str, value: Mapping[str, Any], now_ms: int) -> None:
        """Keep a named group of settings (JSON), replacing what was kept under ``key``."""
        with translate_errors(), self.engines.writer.begin() as conn:
            s = t.service_settings.c
            conn.execute(delete(t.service_settings).where(s.key == key))
            conn.execute(
                insert(t.service_settings).values(
                    key=key, value=json.dumps(dict(value), sort_keys=True), updated_ms=now_ms
                )
            )

    def setting(self, key: str) -> dict[str, Any] | None:
        """What ``put_setting`` kept under ``key``, if anything."""
        s = t.service_settings.c
        query = select(s.value).where(s.key == key)
        raw = self.read(lambda conn: conn.execute(query).scalar())
        return None if raw is None else dict(json.loads(raw))

    def add_route(self, route: Route) -> None:
        """Persist a route; ConflictError if its name is taken."""
        try:
            with translate_errors(), self.engines.writer.begin() as conn:
                conn.execute(
                    insert(t.routes).values(
                        id=route.id,
                        name=route.name,
                        enabled=route.enabled,
                        connector=route.connector,
                        config=json.dumps(dict(route.config)),
                        created_ms=route.created_ms,
                    )
                )
                self._insert_destinations(conn, route)
        except StorageError as exc:
            if isinstance(exc.__cause__, IntegrityError):
                raise ConflictError(f"a route named {route.name!r} already exists") from exc
            raise

    def _insert_destinations(self, conn: Connection, route: Route) -> None:
        if route.destinations:
            conn.execute(
                insert(t.route_destinations),
                [
                    {
                        "route_id": route.id,
                        "country": d.country,
                        "network": d.network or "",
                        "price": d.price,
                    }
                    for d in route.destinations
                ],
            )

    def update_route(self, route: Route) -> None:
        """Replace a route's state, connector, config and destinations (found by id); its
        name stays. NotFoundError if it does not exist."""
        with translate_errors(), self.engines.writer.begin() as conn:
            done = conn.execute(
                update(t.routes)
                .where(t.routes.c.id == route.id)
                .values(
                    enabled=route.enabled,
                    connector=route.connector,
                    config=json.dumps(dict(route.config)),
                )
            )
            if done.rowcount == 0:
                raise NotFoundError(f"no route with id {route.id!r}")
            conn.execute(
                delete(t.route_destinations).where(t.route_destinations.c.route_id == route.id)
            )
            self._insert_destinations(conn, route)

    def delete_route(self, route_id: str) -> None:
        """Remove a route that never carried a message; ConflictError if one did (its
        decisions stay meaningful: disable it instead)."""
        with translate_errors(), self.engines.writer.begin() as conn:
            used = conn.execute(
                select(t.routing_decisions.c.seq)
                .where(t.routing_decisions.c.route_id == route_id)
                .limit(1)
            ).first()
            if used is not None:
                raise ConflictError(
                    "this route has carried messages; disable it instead of deleting it"
                )
            conn.execute(
                delete(t.route_destinations).where(t.route_destinations.c.route_id == route_id)
            )
            done = conn.execute(delete(t.routes).where(t.routes.c.id == route_id))
            if done.rowcount == 0:
                raise NotFoundError(f"no route with id {route_id!r}")

    # -- read models -------------------------------------------------------------------------

    def get_message(self, account_id: str, message_id: str) -> views.MessageView:
        """The account's message with its events; NotFoundError otherwise."""
        view = self.read(lambda conn: views.get_message(conn, account_id, message_id))
        if view is None:
            raise NotFoundError(f"message {message_id} not found")
        return view
