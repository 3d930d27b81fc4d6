"""The writer in its own process (``storage/writerproc.py``, ``convroute.writer``): the same
answers as the writer thread, on each backend; nothing answered that is not committed when the
child is killed; a new child after it; the child stops with the server."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator

import pytest

from convroute.bootstrap import Container, bootstrap
from convroute.config import Settings
from convroute.domain.commands import (
    ConversionRecorded,
    MessageAccepted,
    RecordConversion,
    SendMessage,
)
from convroute.domain.destinations import parse_destination
from convroute.domain.errors import NotFoundError, StorageError, ValidationError
from convroute.domain.ids import new_id
from convroute.domain.models import Principal
from convroute.domain.statuses import ConversionStatus, Dialect, MessageType, TrafficClass
from convroute.services.quality import quality_report
from convroute.storage import schema as t
from convroute.storage.writerproc import WriterProcess, child_env
from tests.conftest import SECRET_KEY, add_account, add_route, count, in_threads, principal

S = ConversionStatus


@pytest.fixture
def proc_container(database_url: str) -> Iterator[Container]:
    """A container whose writer is a child process, started."""
    settings = Settings(database_url=database_url, secret_key=SECRET_KEY, writer="process")
    c = bootstrap(settings, migrate=False)
    c.committer.start()
    yield c
    c.close()


def _child(c: Container) -> WriterProcess:
    child = c.committer.writer
    assert isinstance(child, WriterProcess)
    return child


def _acme(c: Container) -> Principal:
    add_route(c, "cheap", 0.02)
    add_route(c, "dear", 0.05)
    return principal(c, add_account(c, "acme"))


def _send(who: Principal, dst: str = "+14155552671") -> SendMessage:
    return SendMessage(who, "Acme", dst, "code 1", MessageType.OTP, True)


def _once_restarted(c: Container, command: SendMessage, timeout: float = 10.0) -> object:
    """``command``'s answer once a new child took it: until then (its back-off, its start)
    every batch is refused, and nothing of it written."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return c.committer.execute_sync(command)
        except StorageError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def test_the_child_routes_stores_and_answers_like_the_thread(proc_container: Container) -> None:
    c = proc_container
    acme = _acme(c)
    sent = c.committer.execute_sync(_send(acme))
    assert isinstance(sent, MessageAccepted)
    assert sent.route_name in ("cheap", "dear")
    assert sent.country == "US"
    assert _child(c).pid != os.getpid()  # carried out elsewhere
    recorded = c.committer.execute_sync(RecordConversion(acme, sent.message_id, S.CONVERTED))
    assert isinstance(recorded, ConversionRecorded)
    again = c.committer.execute_sync(RecordConversion(acme, sent.message_id, S.CONVERTED))
    assert isinstance(again, ConversionRecorded)
    assert again.duplicate
    # errors cross as themselves, with their details, and write nothing
    with pytest.raises(ValidationError) as bad:
        c.committer.execute_sync(_send(acme, dst="12"))
    assert bad.value.details
    with pytest.raises(NotFoundError):
        c.committer.execute_sync(RecordConversion(acme, new_id(c.clock()), S.CONVERTED))
    assert count(c, t.messages) == 1
    assert count(c, t.conversion_events) == 1


def test_concurrent_commands_share_batches_in_the_child(proc_container: Container) -> None:
    c = proc_container
    acme = _acme(c)
    results = in_threads(
        8,
        lambda n: [
            c.committer.execute_sync(_send(acme, dst=f"+1415555{n:02d}{i:02d}")) for i in range(20)
        ],
    )
    assert len(results) == 160
    assert all(isinstance(r, MessageAccepted) for r in results)
    assert len({r.message_id for r in results if isinstance(r, MessageAccepted)}) == 160
    assert count(c, t.messages) == 160
    assert count(c, t.routing_decisions) == 160
    assert c.committer.batches < 160  # batches were shared
    assert c.metrics.writer_commands._value.get() == 160


def test_a_killed_child_answers_nothing_it_did_not_commit_and_is_replaced(
    proc_container: Container,
) -> None:
    c = proc_container
    acme = _acme(c)
    first = c.committer.execute_sync(_send(acme))
    assert isinstance(first, MessageAccepted)
    child = _child(c)
    old = child.pid
    assert old is not None
    os.kill(old, signal.SIGKILL)
    time.sleep(0.2)
    with pytest.raises(StorageError):  # the batch that found it gone: not acknowledged
        c.committer.execute_sync(_send(acme, dst="+14155550001"))
    after = _once_restarted(c, _send(acme, dst="+14155550002"))
    assert isinstance(after, MessageAccepted)
    assert child.pid not in (None, old)
    assert child.started == 2
    assert count(c, t.messages) == 2  # the first and the last: the refused one never written


def test_the_server_reads_the_childs_router_and_holds_none(proc_container: Container) -> None:
    c = proc_container
    acme = _acme(c)
    for i in range(6):
        sent = c.committer.execute_sync(_send(acme, dst=f"+1415555000{i}"))
        assert isinstance(sent, MessageAccepted)
    assert c.routes_elsewhere
    deadline = time.monotonic() + 10
    while c.reads.applied < 6 and time.monotonic() < deadline:  # its follower reads the log
        time.sleep(0.05)
    applied, polls, failures = c.log_progress()
    assert applied >= 6
    assert polls > 0
    assert failures == 0
    report = quality_report(
        c.store, c.reads, c.clock(), parse_destination("+14155552671"), MessageType.OTP,
        TrafficClass.TWO_FA,
    ).as_json()  # fmt: skip
    assert {r["name"] for r in report["routes"]} == {"cheap", "dear"}
    assert sum(r["share"] for r in report["routes"]) == pytest.approx(1.0)
    assert report["log_entries_applied"] >= 6
    assert c.reads.anomaly_counts() == {} or all(
        n >= 0 for n, _ in c.reads.anomaly_counts().values()
    )
    assert c.router.applied == 0  # the server's own router is left empty: no second copy
    with pytest.raises(StorageError):  # only the reads of READS are answered
        _child(c).ask("choose")


def test_reads_fail_cleanly_while_the_child_is_gone(proc_container: Container) -> None:
    c = proc_container
    acme = _acme(c)
    assert isinstance(c.committer.execute_sync(_send(acme)), MessageAccepted)
    old = _child(c).pid
    assert old is not None
    os.kill(old, signal.SIGKILL)
    time.sleep(0.2)
    with pytest.raises(StorageError):
        c.reads.anomaly_counts()
    with pytest.raises(StorageError):  # the batch that finds it gone
        c.committer.execute_sync(_send(acme, dst="+14155550003"))
    assert isinstance(_once_restarted(c, _send(acme, dst="+14155550004")), MessageAccepted)
    assert c.log_progress()[0] >= 0  # the new child answers


def test_a_child_that_cannot_start_is_not_started_for_every_batch(database_url: str) -> None:
    settings = Settings(database_url=database_url, secret_key=SECRET_KEY)
    broken = WriterProcess("convroute.no_such_module", child_env(settings.to_env()))
    try:
        command = _send(Principal("a", "c", Dialect.NATIVE, TrafficClass.TWO_FA, True))
        first = broken([command])
        assert first.failed
        assert isinstance(first.outcomes[0], StorageError)
        assert broken.started == 1
        again = broken([command])  # within the back-off: refused at once, no new child
        assert again.failed
        assert broken.started == 1
        time.sleep(0.3)
        broken([command])  # after it: tried again (and failed again, backing off longer)
        assert broken.started == 2
        assert broken.wait_ready() is False
    finally:
        broken.close()


def test_the_child_stops_with_the_committer(database_url: str) -> None:
    settings = Settings(database_url=database_url, secret_key=SECRET_KEY, writer="process")
    c = bootstrap(settings, migrate=False)
    c.committer.start()
    acme = _acme(c)
    assert isinstance(c.committer.execute_sync(_send(acme)), MessageAccepted)
    process = _child(c)._process
    assert process is not None
    c.close()
    assert process.poll() == 0  # it stopped on its own when its socket closed


def test_the_writer_setting_is_checked() -> None:
    with pytest.raises(ValidationError) as bad:
        Settings(writer="fork").validated()
    assert "writer" in bad.value.details
