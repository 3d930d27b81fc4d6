"""The writer's table: which handler carries out each kind of command, and in what order,
inside one group-committed transaction (``handle_batch``)."""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from convroute.domain.commands import (
    BatchCommand,
    ClaimForwards,
    ClaimSubmissions,
    CloseWindows,
    ForwardDone,
    ForwardFailed,
    Nonce,
    NoncesPurged,
    PurgeNonces,
    PurgeOld,
    RecordConversion,
    RecordDlr,
    SendMessage,
    SubmissionDone,
    SubmissionRefused,
)
from convroute.domain.errors import ConvrouteError, ReplayError
from convroute.services.delivery import LEASE_MS, claim_submissions, refusals, submissions_done
from convroute.services.forwarding import (
    claim_forwards,
    forwards_done,
    forwards_failed,
)
from convroute.services.messaging import (
    Outcome,
    close_windows,
    record_conversions,
    record_dlrs,
    send_messages,
)
from convroute.services.ports import WriteTransaction
from convroute.services.retention import purge_old
from convroute.services.router import LiveRouter


def handle_batch(
    tx: WriteTransaction,
    commands: Sequence[BatchCommand],
    now_ms: int,
    *,
    router: LiveRouter,
    lease_ms: int = LEASE_MS,
) -> list[Outcome]:
    """Carry out ``commands`` in ``tx``, in order within each kind; one outcome per command.
    Sends are routed by ``router``; what goes to the outbox is leased for ``lease_ms`` to the
    caller, who submits it at once.

    A command carrying a nonce that an accepted command already used is refused as a replay;
    the nonces are recorded in the same transaction, those of refused commands then
    forgotten, so only accepted commands' nonces stay."""
    outcomes: list[Outcome | None] = [None] * len(commands)
    claimed = _claim_nonces(tx, commands, outcomes)
    by_kind: dict[type, list[int]] = {}  # one pass over the batch, not one per kind
    for i, cmd in enumerate(commands):
        if outcomes[i] is None:
            by_kind.setdefault(type(cmd), []).append(i)
    for kind in _kinds(router, lease_ms):
        if idx := by_kind.get(kind.command):
            kind.run(tx, commands, idx, outcomes, now_ms)
    assert all(o is not None for o in outcomes), "a command kind has no handler"
    refused = [key for i, key in claimed.items() if isinstance(outcomes[i], ConvrouteError)]
    if refused:
        tx.release_nonces(refused)
    return [o for o in outcomes if o is not None]


def _claim_nonces(
    tx: WriteTransaction, commands: Sequence[BatchCommand], outcomes: list[Outcome | None]
) -> dict[int, str]:
    """Claim the nonces the batch's commands carry, before they run: a command whose nonce
    was used before, or earlier in the batch, gets its outcome, a replay. The commands that
    claimed one, with its key (released again if the command is refused)."""
    first: dict[str, tuple[int, Nonce]] = {}
    for i, cmd in enumerate(commands):
        if (nonce := getattr(cmd, "nonce", None)) is not None:
            if nonce.key in first:
                outcomes[i] = _replay()
            else:
                first[nonce.key] = (i, nonce)
    if not first:
        return {}
    fresh = tx.claim_nonces([nonce for _, nonce in first.values()])
    for key, (i, _) in first.items():
        if key not in fresh:
            outcomes[i] = _replay()
    return {i: key for key, (i, _) in first.items() if key in fresh}


def _replay() -> ReplayError:
    return ReplayError("this signed request was already received (replay refused)")


C = TypeVar("C", bound=BatchCommand)


@dataclass(frozen=True, slots=True)
class Kind(Generic[C]):
    """A kind of command and its batch handler: the commands of that kind in, one outcome
    per command out."""

    command: type[C]
    handle: Callable[[WriteTransaction, Sequence[C], int], Sequence[Outcome]]

    def run(
        self,
        tx: WriteTransaction,
        commands: Sequence[BatchCommand],
        idx: Sequence[int],
        outcomes: list[Outcome | None],
        now_ms: int,
    ) -> None:
        """Carry out ``commands[i]`` for each ``i`` of ``idx`` (all of this kind), in order."""
        batch = [c for i in idx if isinstance(c := commands[i], self.command)]
        for i, outcome in zip(idx, self.handle(tx, batch, now_ms), strict=True):
            outcomes[i] = outcome


def _kinds(router: LiveRouter, lease_ms: int) -> tuple[Kind[Any], ...]:
    """Kinds run in this order inside a batch: a message is stored before anything about it."""
    return (
        Kind(SendMessage, functools.partial(send_messages, router=router, lease_ms=lease_ms)),
        Kind(RecordDlr, record_dlrs),
        Kind(RecordConversion, record_conversions),
        Kind(CloseWindows, close_windows),
        Kind(PurgeNonces, purge_nonces),
        Kind(PurgeOld, purge_old),
        Kind(SubmissionDone, submissions_done),
        Kind(SubmissionRefused, functools.partial(refusals, router=router, lease_ms=lease_ms)),
        Kind(ClaimSubmissions, claim_submissions),
        Kind(ClaimForwards, claim_forwards),
        Kind(ForwardDone, forwards_done),
        Kind(ForwardFailed, forwards_failed),
    )


def purge_nonces(tx: WriteTransaction, cmds: Sequence[PurgeNonces], now_ms: int) -> list[Outcome]:
    """Forget the used nonces that expired by ``now_ms`` (once for the whole batch)."""
    purged = tx.purge_nonces(now_ms)
    return [NoncesPurged(purged if i == 0 else 0) for i in range(len(cmds))]
