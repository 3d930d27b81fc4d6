"""One account never reads, writes or denies another's message *whatever else shares its write
batch*: both accounts' reports on the same message id are put in one group commit (the writer
is held while they queue), through every dialect, on every backend."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest
from httpx import Response
from sqlalchemy import select, text

from convroute.bootstrap import Container
from convroute.domain.commands import PurgeNonces
from convroute.storage import schema as t
from tests.api.conftest import Api
from tests.api.test_isolation import DIALECTS

ROUNDS = 3
OWNER_REPORTS = 30


@contextlib.contextmanager
def writer_held(c: Container) -> Iterator[Callable[[int], None]]:
    """Hold the database's write lock from another connection, with one command blocked on it
    in the writer; what is queued meanwhile commits in the next batch, all together. Yields a
    function that waits until that many commands are queued behind the blocked one."""
    engine = c.store.engines.writer
    conn = engine.connect()
    conn.begin()  # on SQLite the writer engine begins with BEGIN IMMEDIATE: the write lock
    if c.store.backend == "postgresql":
        conn.execute(text("LOCK TABLE used_nonces IN ACCESS EXCLUSIVE MODE"))
    blocker = threading.Thread(target=c.committer.execute_sync, args=(PurgeNonces(),))
    blocker.start()

    def wait_queued(n: int) -> None:
        for _ in range(2000):
            if c.committer._queue.qsize() >= n:
                return
            threading.Event().wait(0.005)
        raise AssertionError(f"only {c.committer._queue.qsize()} of {n} commands queued")

    try:
        yield wait_queued
    finally:
        conn.rollback()
        conn.close()
        blocker.join(30)


def events_of(api: Api, message_id: str) -> list[tuple[str, str]]:
    def read(conn):  # type: ignore[no-untyped-def]
        rows = []
        for table in (t.conversion_events, t.dlr_events):
            query = select(table.c.account_id, table.c.status).where(
                table.c.message_id == message_id
            )
            rows += [(r.account_id, r.status) for r in conn.execute(query)]
        return rows

    return api.container.store.read(read)  # type: ignore[no-any-return]


def native_dlr(api: Api, who: object, mid: str) -> Response:
    return api.client.post(
        f"/api/v1/messages/{mid}/dlr",
        json={"status": "expired"},
        headers=api.auth(who),  # type: ignore[arg-type]
    )


@pytest.mark.parametrize("dialect", [*DIALECTS, "native-dlr"])
def test_reports_of_two_accounts_in_one_batch_stay_apart(api_any: Api, dialect: str) -> None:
    api = api_any
    if dialect == "native-dlr":
        report, ok, not_yours = native_dlr, 201, 404
    else:
        report, ok, not_yours = DIALECTS[dialect]
    for _ in range(ROUNDS):
        mine, theirs = api.send(api.acme), api.send(api.other)
        before_theirs = events_of(api, theirs)
        calls = [(api.acme, mine)] * OWNER_REPORTS + [(api.other, mine), (api.acme, theirs)]
        api.container.committer.largest_batch = 0
        with ThreadPoolExecutor(len(calls)) as pool:
            with writer_held(api.container) as wait_queued:
                futures = [pool.submit(report, api, who, mid) for who, mid in calls]  # type: ignore[arg-type]
                wait_queued(len(calls))
            answers = [f.result(30) for f in futures]
        # the blocked command's batch, then every report in the next (the writer takes 2000;
        # the dispatcher's own commands, clearing the sends' outbox entries, may join it)
        assert api.container.committer.largest_batch >= len(calls), "no batch held them all"
        owner, intruders = answers[:OWNER_REPORTS], answers[OWNER_REPORTS:]
        # identical reports after the first: the dialect's duplicate answer (native: 200)
        assert {r.status_code for r in owner} <= {ok, 200}, [r.text for r in owner]
        assert [r.status_code for r in intruders] == [not_yours] * 2, [r.text for r in intruders]
        accounts = {account for account, _ in events_of(api, mine)}
        assert accounts == {api.acme.account.id}
        assert events_of(api, theirs) == before_theirs
        view = api.view(theirs, api.other)
        assert view["conversions"] == []
        assert view["dlr"] is None
        mine_view = api.view(mine)
        if dialect == "native-dlr":
            assert mine_view["dlr"]["status"] == "expired"
        else:
            assert mine_view["status"] is not None
