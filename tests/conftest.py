"""Shared fixtures. ``backend`` runs a test on SQLite and, when a server answers (always under
CI=true), on PostgreSQL: one store suite for every backend."""

from __future__ import annotations

import os
import secrets
import shutil
import socket
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, func, select, text

from convroute.bootstrap import Container, bootstrap
from convroute.config import Settings
from convroute.domain.commands import MessageAccepted, SendMessage
from convroute.domain.models import Principal, Route, RouteDestination
from convroute.domain.statuses import Dialect, MessageType, TrafficClass
from convroute.routing.policies import make_policy
from convroute.services.accounts import NewAccount, new_account
from convroute.services.auth import principal_of
from convroute.services.router import LiveRouter
from convroute.services.writer import handle_batch
from convroute.storage import schema
from convroute.storage.engines import normalize_url
from convroute.storage.secretbox import new_key

PG_URL = os.environ.get("CONVROUTE_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
SECRET_KEY = new_key()


def _pg_answers() -> bool:
    try:
        with socket.create_connection(("127.0.0.1", 5432), timeout=1):
            return True
    except OSError:
        return False


def pytest_report_header() -> str:
    if _pg_answers():
        return (
            f"convroute: PostgreSQL answers at {PG_URL}: store tests run on sqlite AND postgresql"
        )
    return (
        f"convroute: *** PostgreSQL does NOT answer at {PG_URL}: the postgresql store tests "
        "will be SKIPPED (under CI=true they fail instead) ***"
    )


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated SQLite database, copied for each test (migrating once keeps tests fast)."""
    path = tmp_path_factory.mktemp("template") / "template.db"
    c = bootstrap(Settings(database_url=f"sqlite:///{path}", secret_key=SECRET_KEY))
    c.close()
    return path


@pytest.fixture(scope="session")
def pg_schema_url() -> Iterator[str]:
    """A fresh schema on the PostgreSQL test database, migrated once, dropped at the end."""
    if not _pg_answers():
        message = f"PostgreSQL does not answer at {PG_URL}: the PostgreSQL store tests did NOT run"
        if os.environ.get("CI") == "true":
            pytest.fail(message + " (required under CI=true)")
        pytest.skip(message)
    name = "t_" + secrets.token_hex(6)
    admin = create_engine(normalize_url(PG_URL))
    with admin.begin() as conn:
        conn.execute(text(f"CREATE SCHEMA {name}"))
    url = f"{PG_URL}?options=-csearch_path%3D{name}"
    c = bootstrap(Settings(database_url=url, secret_key=SECRET_KEY))
    c.close()
    yield url
    with admin.begin() as conn:
        conn.execute(text(f"DROP SCHEMA {name} CASCADE"))
    admin.dispose()


def _truncate_pg(url: str) -> None:
    engine = create_engine(normalize_url(url))
    tables = ", ".join(t.name for t in schema.metadata.sorted_tables)
    with engine.begin() as conn:
        conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
    engine.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A clean, migrated database on each backend."""
    if request.param == "sqlite":
        path = tmp_path / "convroute.db"
        shutil.copy(request.getfixturevalue("sqlite_template"), path)
        return f"sqlite:///{path}"
    url: str = request.getfixturevalue("pg_schema_url")
    _truncate_pg(url)
    return url


@pytest.fixture
def container(database_url: str) -> Iterator[Container]:
    """A bootstrapped container (writer not started) on each backend."""
    c = bootstrap(Settings(database_url=database_url, secret_key=SECRET_KEY), migrate=False)
    yield c
    c.close()


@pytest.fixture
def sqlite_container(tmp_path: Path, sqlite_template: Path) -> Iterator[Container]:
    """A container on SQLite only, for tests about HTTP rather than storage."""
    path = tmp_path / "convroute.db"
    shutil.copy(sqlite_template, path)
    c = bootstrap(Settings(database_url=f"sqlite:///{path}", secret_key=SECRET_KEY), migrate=False)
    yield c
    c.close()


def add_account(
    c: Container, name: str = "acme", traffic_class: TrafficClass = TrafficClass.TWO_FA
) -> NewAccount:
    """Create an account in ``c``'s store."""
    created = new_account(name, traffic_class, c.clock())
    c.store.create_account(created)
    return created


def principal(c: Container, created: NewAccount, dialect: Dialect = Dialect.NATIVE) -> Principal:
    """The principal of one of the account's credentials."""
    credential = created.issued[dialect].credential
    return principal_of(c.store.find_credential(dialect, credential.key_id), None)


def add_route(
    c: Container, name: str, price: float, country: str = "*", enabled: bool = True
) -> Route:
    """Create a route serving ``country`` at ``price``."""
    route = Route(
        f"route-{name}", name, enabled, "simulated", (RouteDestination(country, price),), c.clock()
    )
    c.store.add_route(route)
    return route


def two_routes_and_an_account(
    database_url: str, name: str, otp_window_s: int, secret_key: str | None = None
) -> dict[str, object]:
    """Routes A (0.03) and B (0.04) serving everywhere and a 2FA account with the given OTP
    window, in a database a server process will use; the account as ``accounts create
    --json`` prints it."""
    from convroute.domain.statuses import MessageType
    from convroute.services.routes import new_route

    c = bootstrap(Settings(database_url=database_url, secret_key=secret_key))
    try:
        now = c.clock()
        for route, price in (("A", 0.03), ("B", 0.04)):
            c.store.add_route(new_route(route, [RouteDestination("*", price)], now))
        created = new_account(name, TrafficClass.TWO_FA, now)
        c.store.create_account(created)
        c.store.set_window(created.account.id, MessageType.OTP, otp_window_s)
        return created.as_json()
    finally:
        c.close()


def paced_server_env(speed: float, admin_token: str) -> dict[str, str]:
    """A server process's settings for a scenario played ``speed`` times faster than real
    time (its 300 s window, its 20 s median delay, read back every 50 ms), seeded."""
    return {
        "CONVROUTE_ADMIN_TOKEN": admin_token,
        "CONVROUTE_ROUTING_DELAY_MEDIAN_SECONDS": str(20 / speed),
        "CONVROUTE_ROUTING_WINDOW_SECONDS": str(300 / speed),
        "CONVROUTE_ROUTING_TAIL_SECONDS": "0.05",
        "CONVROUTE_ROUTING_PACE": str(speed),
        "CONVROUTE_WINDOW_SWEEP_SECONDS": "0.25",
        "CONVROUTE_ROUTING_SEED": "1",
    }


def static_router() -> LiveRouter:
    """The service's live router with the static policy: every send goes to the cheapest
    route serving it."""
    return LiveRouter(make_policy("static"))


def run(c: Container, *commands: object, now: int | None = None) -> list[object]:
    """Carry out ``commands`` in one batch, as the writer would, routed by a static router."""
    at = c.clock() if now is None else now
    batch = list(commands)
    return c.store.write(lambda tx: handle_batch(tx, batch, at, router=static_router()))  # type: ignore[arg-type]


def send(
    c: Container,
    who: Principal,
    dst: str = "+14155552671",
    trackable: bool = True,
    now: int | None = None,
) -> MessageAccepted:
    """One OTP sent by ``who``."""
    (out,) = run(c, SendMessage(who, "Acme", dst, "code 1", MessageType.OTP, trackable), now=now)
    assert isinstance(out, MessageAccepted), out
    return out


def in_threads(clients: int, work: Callable[[int], list[object]]) -> list[object]:
    """What ``work(n)`` returned for each of ``clients`` threads run at once, all in one list."""
    results: list[object] = []
    lock = threading.Lock()

    def client(n: int) -> None:
        out = work(n)
        with lock:
            results.extend(out)

    threads = [threading.Thread(target=client, args=(n,)) for n in range(clients)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    return results


def count(c: Container, table: Any) -> int:
    """Rows in ``table``."""
    return int(
        c.store.read(
            lambda conn: conn.execute(select(func.count()).select_from(table)).scalar_one()
        )
    )


@pytest.fixture
def acme(container: Container) -> Principal:
    """An account with routes ``cheap`` (0.02) and ``dear`` (0.05) serving everywhere."""
    add_route(container, "cheap", 0.02)
    add_route(container, "dear", 0.05)
    return principal(container, add_account(container, "acme"))


@pytest.fixture
def other(container: Container) -> Principal:
    """A second account."""
    return principal(container, add_account(container, "other"))
