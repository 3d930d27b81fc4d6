"""A ledger's state as plain values, for checkpoints of the router (``LedgerSums``'s
``__getstate__`` and ``__setstate__``).

A busy day keeps hundreds of thousands of decisions in a ledger; pickled one object each,
they cost about 270 bytes and 18 µs apiece. Here they are kept in columns instead (their ids,
an index into the ledger's keys, their send times, their state packed in a byte), and their
arms and weights are not kept at all: a decision's arms are its key's (one tuple shared by
every decision of the key) and its weights are derived again from its send time and the
anchors when next needed, as after any move of an anchor. The history of the change
tests (``changes.History``) is kept in columns too: its slices' counts, without the rows it
caches between reads (built again at the next read, as after any late outcome). Everything
else (the sums, the delay model) is kept as it is.

The order decisions were recorded in is the ledger's ``records`` order (both only grow at the
end, and retention lets go of both from the front), so it is not kept twice.
"""

from __future__ import annotations

from array import array
from collections import deque
from typing import TYPE_CHECKING, Any

from convroute.routing.arms import Arm, Key, Record
from convroute.routing.changes import History, Slice
from convroute.routing.policy import OutcomeKind

if TYPE_CHECKING:
    from convroute.routing.ledger import LedgerSums

VERSION = 3
"""2: the reads over many destinations kept per period; 3: the service's ledger learns the
conversion delay (``delay_learn``, on a grid), its learner kept with it."""

# the ledger's attributes kept as they are (``tests/routing/test_ledger_state.py`` checks
# that this names every attribute but the decisions')
PLAIN = (
    "delay",
    "_scales",
    "prior",
    "_arms",
    "arms",
    "_by_context",
    "_members",
    "_pool",
    "_wider_memo",
    "reread_ms",
    "retain_ms",
    "_bounds",
    "_alpha",
    "_beta",
    "_cursors",
    "_leave_at",
    "_moves",
    "_origin_ms",
    "_advanced_ms",
    "_epoch",
    "_young_ms",
    "learner",
)
DECISIONS = ("records", "_order", "_pending", "history")

_RESOLVED: list[OutcomeKind | None] = [
    None,
    OutcomeKind.NOT_CONVERTED,
    OutcomeKind.CONVERTED,
    OutcomeKind.CANCELED,
]
_DLR: list[OutcomeKind | None] = [None, OutcomeKind.DLR_DELIVERED, OutcomeKind.DLR_FAILED]


def state_of(ledger: LedgerSums) -> dict[str, Any]:
    """The ledger as plain values: its plain attributes, then its decisions in columns."""
    state: dict[str, Any] = {name: getattr(ledger, name) for name in PLAIN}
    # the decisions kept, in recording order, then those only the pending list still holds
    # (let go, but behind a cursor of the schedule)
    rows: list[Record] = list(ledger.records.values())
    at = {id(r): i for i, r in enumerate(rows)}
    cursors = ledger._cursors
    start = cursors[-1] if cursors else 0
    pending = ledger._pending[start:]
    for record in pending:
        if id(record) not in at:
            at[id(record)] = len(rows)
            rows.append(record)
    keys: dict[Key, int] = {}
    key_of = array("i")
    sent = array("q")
    flags = bytearray()
    segment = bytearray()
    history, slice_at = _history_state(ledger.history)
    slice_of = array("q")
    resolved = {kind: i for i, kind in enumerate(_RESOLVED)}
    dlr = {kind: i for i, kind in enumerate(_DLR)}
    for r in rows:
        key_of.append(keys.setdefault(r.key, len(keys)))
        sent.append(r.sent_ms)
        flags.append(resolved[r.resolved] | dlr[r.dlr] << 2 | (16 if r.open else 0))
        segment.append(r.segment)
        slice_of.append(-1 if r.slice is None else slice_at.get(id(r.slice), -1))
    state["_cursors"] = [c - start for c in cursors]
    state["decisions"] = {
        "version": VERSION,
        "kept": len(ledger.records),
        "ids": [r.decision_id for r in rows],
        "keys": list(keys),
        "key_of": key_of.tobytes(),
        "sent": sent.tobytes(),
        "flags": bytes(flags),
        "segment": bytes(segment),
        "slice_of": slice_of.tobytes(),
        "history": history,
        "pending": array("q", [at[id(r)] for r in pending]).tobytes(),
    }
    return state


def restore(ledger: LedgerSums, state: dict[str, Any]) -> None:
    """Make ``ledger`` the one ``state`` was taken of."""
    decisions = state["decisions"]
    if decisions["version"] != VERSION:
        raise ValueError(f"a ledger state of version {decisions['version']}, not {VERSION}")
    for name in PLAIN:
        setattr(ledger, name, state[name])
    epoch = ledger._epoch - 1  # every decision's weights are derived again when next needed
    memories = ledger._arms
    ledger._places = {key: (key, tuple(m[key] for m in memories)) for key in memories[0]}
    places = [ledger._places[key] for key in decisions["keys"]]
    keys = [key for key, _ in places]
    shared: list[tuple[Arm, ...]] = [arms for _, arms in places]
    key_of = array("i")
    key_of.frombytes(decisions["key_of"])
    sent = array("q")
    sent.frombytes(decisions["sent"])
    flags: bytes = decisions["flags"]
    segment: bytes = decisions["segment"]
    ledger.history, slices = _restore_history(decisions["history"])
    slice_of = array("q")
    slice_of.frombytes(decisions["slice_of"])
    ids: list[str] = decisions["ids"]
    rows: list[Record] = []
    for i in range(len(ids)):
        k = key_of[i]
        f = flags[i]
        record = Record(ids[i], keys[k], sent[i], shared[k], (), epoch)
        record.resolved = _RESOLVED[f & 3]
        record.dlr = _DLR[(f >> 2) & 3]
        record.open = f & 16 != 0
        record.segment = segment[i]
        at = slice_of[i]
        record.slice = slices[at] if at >= 0 else None  # (past the history's horizon)
        rows.append(record)
    kept = decisions["kept"]
    ledger.records = {r.decision_id: r for r in rows[:kept]}
    ledger._order = deque(rows[:kept])
    order = array("q")
    order.frombytes(decisions["pending"])
    ledger._pending = [rows[i] for i in order]


def _history_state(history: History | None) -> tuple[dict[str, Any] | None, dict[int, int]]:
    """The history in columns, and where each of its slices is in them (by identity)."""
    if history is None:
        return None, {}
    keys: list[Key] = list(history.slices)
    key_of = array("i")
    index = array("q")
    counts = array("d")  # sent, converted, offset_ms of each slice
    at: dict[int, int] = {}
    for k, key in enumerate(keys):
        for i, cell in history.slices[key].items():
            at[id(cell)] = len(index)
            key_of.append(k)
            index.append(i)
            counts.extend((cell.sent, cell.converted, cell.offset_ms))
    state = {
        "slice_ms": history.slice_ms,
        "horizon_ms": history.horizon_ms,
        "keys": keys,
        "latest": [history._latest.get(key) for key in keys],
        "key_of": key_of.tobytes(),
        "index": index.tobytes(),
        "counts": counts.tobytes(),
    }
    return state, at


def _restore_history(state: dict[str, Any] | None) -> tuple[History | None, list[Slice]]:
    """The history ``_history_state`` kept, and its slices in the order of the columns."""
    if state is None:
        return None, []
    history = History(state["slice_ms"], state["horizon_ms"])
    keys: list[Key] = state["keys"]
    for key, latest in zip(keys, state["latest"], strict=True):
        history.slices[key] = {}
        if latest is not None:
            history._latest[key] = latest
    key_of = array("i")
    key_of.frombytes(state["key_of"])
    index = array("q")
    index.frombytes(state["index"])
    counts = array("d")
    counts.frombytes(state["counts"])
    cells: list[Slice] = []
    for n in range(len(index)):
        key = keys[key_of[n]]
        cell = Slice(counts[3 * n], counts[3 * n + 1], counts[3 * n + 2], key)
        history.slices[key][index[n]] = cell
        cells.append(cell)
    return history, cells
