"""The store suite: every test runs on SQLite and on PostgreSQL (see conftest ``database_url``)."""

from __future__ import annotations

import time

import pytest
from sqlalchemy import select

from convroute.bootstrap import Container
from convroute.domain.commands import (
    ConversionRecorded,
    RecordConversion,
)
from convroute.domain.errors import ConflictError
from convroute.domain.models import Principal
from convroute.domain.statuses import (
    ConversionStatus,
    Dialect,
)
from convroute.storage import schema as t
from tests.conftest import add_account, count, in_threads, run, send

S = ConversionStatus
# a day ago, to the second: reports may not be more than an hour ahead of the writer's clock
T0 = int(time.time()) * 1000 - 86_400_000


def test_stats_group_and_rate(container: Container, acme: Principal) -> None:
    a = send(container, acme, dst="+14155552671", now=T0)
    b = send(container, acme, dst="+33612345678", now=T0)
    send(container, acme, dst="+33612345679", now=T0)  # pending
    c = send(container, acme, dst="+33612345670", now=T0)
    run(container, RecordConversion(acme, a.message_id, S.CONVERTED))
    run(container, RecordConversion(acme, b.message_id, S.NOT_CONVERTED))
    run(container, RecordConversion(acme, c.message_id, S.CANCELED))
    rows = container.store.conversion_stats(acme.account_id, ["country", "route"], None, None)
    by_country = {r["country"]: r for r in rows}
    assert by_country["US"]["conversion_rate"] == 1.0
    fr = by_country["FR"]
    assert (fr["messages"], fr["pending"], fr["canceled"], fr["reported"]) == (3, 1, 1, 1)
    assert fr["conversion_rate"] == 0.0
    assert fr["route"] == "cheap"
    assert container.store.conversion_stats(acme.account_id, [], 1_900_000_000_000, None) == []


def test_account_names_are_unique(container: Container) -> None:
    add_account(container, "acme")
    with pytest.raises(ConflictError):
        add_account(container, "acme")


def test_credentials_round_trip_with_encrypted_signature_secret(container: Container) -> None:
    created = add_account(container, "acme")
    vonage = created.issued[Dialect.VONAGE]
    found = container.store.find_credential(Dialect.VONAGE, vonage.shown["api_key"])
    assert found is not None
    credential, account = found
    assert credential.signature_secret == vonage.shown["signature_secret"]
    raw = container.store.read(
        lambda conn: conn.execute(
            select(t.credentials.c.signature_secret_enc).where(t.credentials.c.dialect == "vonage")
        ).scalar_one()
    )
    assert vonage.shown["signature_secret"] not in raw  # encrypted at rest
    assert account.name == "acme"
    assert container.store.find_credential(Dialect.PLIVO, "MA_NOPE") is None


def test_group_commit_shares_commits_and_loses_nothing(
    container: Container, acme: Principal
) -> None:
    sent = send(container, acme)
    container.committer.start()
    results = in_threads(
        8,
        lambda n: [
            container.committer.execute_sync(
                RecordConversion(
                    acme, sent.message_id, S.INCORRECT_CODE, event_ms=T0 + n * 1000 + i
                )
            )
            for i in range(25)
        ],
    )
    assert len(results) == 200
    assert all(isinstance(r, ConversionRecorded) for r in results)
    assert count(container, t.conversion_events) == 200
    assert container.committer.commands == 200
    assert container.committer.batches < 200  # concurrent writers shared commits
