"""Two instances on one database race on the same unique keys: identical reports, and one
signature sent to both. The loser of each race answers as if it had come second (a duplicate,
a replay), never "storage unavailable"; the data holds one row per key."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import func, select

from convroute.bootstrap import Container, bootstrap
from convroute.config import Settings
from convroute.domain.commands import (
    ConversionRecorded,
    MessageAccepted,
    Nonce,
    RecordConversion,
    SendMessage,
)
from convroute.domain.ids import new_id
from convroute.domain.models import Principal
from convroute.domain.statuses import ConversionStatus, MessageType
from convroute.storage import schema as t
from tests.conftest import SECRET_KEY, add_account, add_route, principal

ROUNDS = 40


@pytest.fixture
def two(database_url: str) -> Iterator[tuple[Container, Container]]:
    settings = Settings(database_url=database_url, secret_key=SECRET_KEY)
    a, b = bootstrap(settings, migrate=False), bootstrap(settings, migrate=False)
    a.committer.start()
    b.committer.start()
    yield a, b
    a.close()
    b.close()


def _race(two: tuple[Container, Container], commands: list[object]) -> list[object]:
    """Each command on its own instance, all released at once; outcomes, errors included."""
    gate = threading.Barrier(len(commands))

    def run(i: int) -> object:
        gate.wait()
        try:
            return two[i % 2].committer.execute_sync(commands[i])
        except Exception as exc:
            return exc

    with ThreadPoolExecutor(len(commands)) as pool:
        return list(pool.map(run, range(len(commands))))


def _messages(c: Container) -> Iterator[tuple[Principal, str]]:
    """An account, then a new message of it each round."""
    add_route(c, "r", 0.01)
    who = principal(c, add_account(c))
    for _ in range(ROUNDS):
        sent = c.committer.execute_sync(
            SendMessage(who, "Acme", "+14155552671", "x", MessageType.OTP, True)
        )
        assert isinstance(sent, MessageAccepted)
        yield who, sent.message_id


def test_identical_reports_on_two_instances_are_one_event_and_a_duplicate(
    two: tuple[Container, Container],
) -> None:
    for who, message_id in _messages(two[0]):
        report = RecordConversion(who, message_id, ConversionStatus.CONVERTED, event_ms=1)
        outcomes = _race(two, [report, report])
        assert all(isinstance(o, ConversionRecorded) for o in outcomes), outcomes
        assert sorted(o.duplicate for o in outcomes) == [False, True]  # type: ignore[attr-defined]
        assert len({o.conversion_id for o in outcomes}) == 1  # type: ignore[attr-defined]


def test_one_signature_on_two_instances_is_accepted_once_and_refused_as_a_replay(
    two: tuple[Container, Container],
) -> None:
    a, _ = two
    for who, message_id in _messages(a):
        nonce = Nonce(new_id(), a.clock() + 300_000)
        report = RecordConversion(who, message_id, ConversionStatus.CONVERTED, nonce=nonce)
        outcomes = _race(two, [report, report])
        kinds = sorted(type(o).__name__ for o in outcomes)
        assert kinds == ["ConversionRecorded", "ReplayError"], outcomes

    def events(conn):  # type: ignore[no-untyped-def]
        return conn.execute(select(func.count()).select_from(t.conversion_events)).scalar_one()

    assert a.store.read(events) == ROUNDS
