"""The write use cases: send a message, record a conversion, record a DLR, close windows.

Each works on a whole batch inside one transaction (``handle_batch``), so a batch of
concurrent requests costs a handful of statements and one commit (group commit). A command
that fails validation gets its error in place of a result and writes nothing.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence

from convroute.domain.clock import check_not_future
from convroute.domain.commands import (
    WINDOW_BATCH,
    CloseWindows,
    ConversionRecorded,
    DlrRecorded,
    MessageAccepted,
    RecordConversion,
    RecordDlr,
    Result,
    SendMessage,
    WindowsClosed,
)
from convroute.domain.destinations import e164_shaped, parse_destination
from convroute.domain.errors import (
    ConversionsDisabledError,
    ConvrouteError,
    NotFoundError,
    ValidationError,
)
from convroute.domain.folding import supersedes
from convroute.domain.ids import is_uuid, new_id
from convroute.domain.models import (
    ConversionEvent,
    DlrEvent,
    Message,
    MessageState,
    Principal,
    Submission,
)
from convroute.domain.statuses import (
    ConversionStatus,
    EventSource,
    MessageType,
    Method,
    TrafficClass,
)
from convroute.domain.windows import window_seconds
from convroute.services.delivery import (
    LEASE_MS,
    UNTRACKED_TTL_MS,
)
from convroute.services.forwarding import (
    new_forwards,
)
from convroute.services.ports import EarlierSend, RoutingDecision, WriteTransaction
from convroute.services.router import LiveRouter

MAX_TEXT_LENGTH = 1600  # ten concatenated GSM-7 segments: longer is a client bug
MAX_SENDER_LENGTH = 20


Outcome = Result | ConvrouteError


def validate_send(cmd: SendMessage, number: bool = True) -> None:
    """Checks that need no storage, run before a command is queued. Without ``number``, only
    the number's shape is checked (the writer parses it, where a writer process has a core of
    its own)."""
    if number:
        parse_destination(cmd.dst)
    else:
        e164_shaped(cmd.dst)
    src = cmd.src.strip()
    if not src or len(src) > MAX_SENDER_LENGTH:
        raise ValidationError.field("src", f"must be 1 to {MAX_SENDER_LENGTH} characters")
    if not cmd.text:
        raise ValidationError.field("text", "must not be empty")
    if len(cmd.text) > MAX_TEXT_LENGTH:
        raise ValidationError.field("text", f"must be at most {MAX_TEXT_LENGTH} characters")
    if cmd.client_ref is not None and len(cmd.client_ref) > 200:
        raise ValidationError.field("client_ref", "must be at most 200 characters")


def default_message_type(principal: Principal) -> MessageType:
    """The type of a message sent through a dialect that has no such notion (Plivo, Vonage):
    ``otp`` on a 2FA credential, as both providers reserve conversion feedback for 2FA traffic,
    ``other`` otherwise."""
    return MessageType.OTP if principal.traffic_class is TrafficClass.TWO_FA else MessageType.OTHER


def conversions_disabled() -> ConversionsDisabledError:
    """The error for a report from an account whose conversion reporting is off."""
    return ConversionsDisabledError("conversion reporting is not enabled for this account")


def admit_report(principal: Principal, message_id: str) -> str:
    """The checks every dialect runs on a conversion report before reading its body: the
    account may report conversions (else ConversionsDisabledError) and the id can name a
    message (else NotFoundError: such an id is simply not found). The id, lower-cased. The
    writer checks the rest (the message is the caller's, the time not an hour ahead)."""
    if not principal.conversions_enabled:
        raise conversions_disabled()
    if not is_uuid(message_id):
        raise NotFoundError(f"message {message_id} not found")
    return message_id.lower()


def _not_ahead(event_ms: int | None, now_ms: int) -> None:
    if event_ms is not None:
        check_not_future(event_ms, now_ms)


RESEND_LOOKBACK_MS = 15 * 60 * 1000
"""How far back a send looks for an earlier message with the same client reference."""


def send_messages(
    tx: WriteTransaction,
    cmds: Sequence[SendMessage],
    now_ms: int,
    router: LiveRouter,
    lease_ms: int = LEASE_MS,
) -> list[Outcome]:
    """Route and record messages (and put them in the outbox, leased for ``lease_ms``). A
    message whose client reference (the verification it belongs to) was used in the last
    ``RESEND_LOOKBACK_MS`` by a message that has not converted is a resend: it avoids that
    message's route when another one serves."""
    routes = tx.enabled_routes()
    overrides = tx.window_overrides({c.principal.account_id for c in cmds})
    refs = {(c.principal.account_id, c.client_ref) for c in cmds if c.client_ref}
    earlier = tx.recent_by_client_ref(refs, now_ms - RESEND_LOOKBACK_MS) if refs else {}
    messages: list[Message] = []
    decisions: list[RoutingDecision] = []
    states: list[MessageState] = []
    outbox: list[Submission] = []
    out: list[Outcome] = []
    for cmd in cmds:
        try:
            dest = parse_destination(cmd.dst)
            validate_send(cmd, number=False)
            avoid = None
            if cmd.client_ref:
                last = earlier.get((cmd.principal.account_id, cmd.client_ref))
                if last is not None and last.status is not ConversionStatus.CONVERTED:
                    avoid = last.route_id
            principal = cmd.principal
            choice = router.choose(
                routes, dest, cmd.type, principal.traffic_class, now_ms, avoid,
                routing=principal.routing,
            )  # fmt: skip
        except ConvrouteError as exc:
            out.append(exc)
            continue
        account_id = cmd.principal.account_id
        msg = Message(
            id=new_id(now_ms),
            account_id=account_id,
            src=cmd.src.strip(),
            dst=dest.e164,
            country=dest.country,
            network=dest.network,
            type=cmd.type,
            trackable=cmd.trackable,
            client_ref=cmd.client_ref,
            route_id=choice.route.id,
            traffic_class=cmd.principal.traffic_class,
            dialect=cmd.principal.dialect,
            text_length=len(cmd.text),
            sent_ms=now_ms,
        )
        window_s = window_seconds(cmd.type, overrides.get(account_id, {}))
        messages.append(msg)
        if cmd.client_ref:  # a resend later in the same batch avoids this one's route
            earlier[(account_id, cmd.client_ref)] = EarlierSend(msg.route_id or "", None)
        decisions.append(RoutingDecision.of(choice, msg.id, account_id, now_ms))
        window_due = now_ms + window_s * 1000 if cmd.trackable else None
        states.append(
            MessageState(
                message_id=msg.id, account_id=account_id, type=cmd.type, window_due_ms=window_due
            )
        )
        outbox.append(
            Submission(
                message_id=msg.id,
                account_id=account_id,
                route_id=choice.route.id,
                src=msg.src,
                dst=msg.dst,
                text=cmd.text,
                country=msg.country,
                network=msg.network,
                client_ref=msg.client_ref,
                sent_ms=now_ms,
                expires_ms=window_due or now_ms + UNTRACKED_TTL_MS,
            )
        )
        out.append(
            MessageAccepted(
                message_id=msg.id,
                route_id=choice.route.id,
                route_name=choice.route.name,
                price=choice.price,
                country=dest.country,
                network=dest.network,
                sent_ms=now_ms,
                explored=choice.explored,
                dst=dest.e164,
                expires_ms=outbox[-1].expires_ms,
            )
        )
    if messages:
        tx.insert_messages(messages)
        tx.insert_decisions(decisions)
        tx.insert_states(states, now_ms)
        tx.insert_submissions(outbox, now_ms + lease_ms)  # the sender submits them now
    return out


def dedupe_key(message_id: str, *fields: str) -> str:
    """Identical reports about a message share a key; reports about others never do."""
    return hashlib.sha256("|".join([message_id, *fields]).encode()).hexdigest()[:32]


def report_key(cmd: RecordConversion) -> str:
    """A report's key: its message, status, type, method and client time."""
    return dedupe_key(
        cmd.message_id,
        *[
            cmd.status.value,
            cmd.type.value if cmd.type else "-",
            cmd.method.value,
            "-" if cmd.event_ms is None else str(cmd.event_ms),
        ],
    )


def _owned(cmd: RecordConversion | RecordDlr) -> tuple[str, str]:
    """The key a command's message state is loaded under: its caller's account and the id,
    so that a message of another account in the same batch is never this command's."""
    return (cmd.principal.account_id, cmd.message_id)


def record_conversions(
    tx: WriteTransaction, cmds: Sequence[RecordConversion], now_ms: int
) -> list[Outcome]:
    """Append conversion events and fold them into the messages' current status."""
    loaded = tx.load_states({_owned(c) for c in cmds})
    states, where = loaded.states, loaded.routes
    keys = [report_key(c) for c in cmds]
    existing = tx.existing_conversions(
        [k for c, k in zip(cmds, keys, strict=True) if _owned(c) in states]
    )
    events: list[ConversionEvent] = []
    dirty: dict[str, MessageState] = {}
    out: list[Outcome] = []
    for cmd, key in zip(cmds, keys, strict=True):
        state = states.get(_owned(cmd))
        if not cmd.principal.conversions_enabled:
            out.append(conversions_disabled())
            continue
        try:
            _not_ahead(cmd.event_ms, now_ms)
        except ValidationError as exc:
            out.append(exc)
            continue
        if state is None:
            out.append(NotFoundError(f"message {cmd.message_id} not found"))
            continue
        if key in existing:
            event_id, status = existing[key]
            out.append(ConversionRecorded(event_id, cmd.message_id, status, duplicate=True))
            continue
        event = ConversionEvent(
            id=new_id(now_ms),
            message_id=cmd.message_id,
            account_id=state.account_id,
            status=cmd.status,
            type=cmd.type or state.type,
            method=cmd.method,
            event_ms=now_ms if cmd.event_ms is None else cmd.event_ms,
            received_ms=now_ms,
            source=EventSource.CLIENT,
            dialect=cmd.principal.dialect,
            traffic_class=cmd.principal.traffic_class,
            dedupe_key=key,
            raw=cmd.raw,
        )
        existing[key] = (event.id, event.status)
        events.append(event)
        _fold(state, event)
        dirty[state.message_id] = state
        route, country = where.get(cmd.message_id, (None, None))
        out.append(ConversionRecorded(event.id, cmd.message_id, cmd.status, False, route, country))
    if events:
        tx.insert_conversions(events)
        tx.update_states(list(dirty.values()), now_ms)
        new_forwards(tx, events, loaded.forwards, now_ms)
    return out


def _fold(state: MessageState, event: ConversionEvent) -> None:
    status = event.as_status_event()
    if supersedes(status, state.status):
        state.status = status
    if event.source is EventSource.WINDOW or event.status.is_final:
        state.window_due_ms = None


def record_dlrs(tx: WriteTransaction, cmds: Sequence[RecordDlr], now_ms: int) -> list[Outcome]:
    """Append delivery receipts; the latest by event time becomes the message's DLR state."""
    loaded = tx.load_states({_owned(c) for c in cmds})
    states, where = loaded.states, loaded.routes
    events: list[DlrEvent] = []
    dirty: dict[str, MessageState] = {}
    out: list[Outcome] = []
    for cmd in cmds:
        state = states.get(_owned(cmd))
        try:
            _not_ahead(cmd.event_ms, now_ms)
        except ValidationError as exc:
            out.append(exc)
            continue
        if state is None:
            out.append(NotFoundError(f"message {cmd.message_id} not found"))
            continue
        event = DlrEvent(
            id=new_id(now_ms),
            message_id=cmd.message_id,
            account_id=state.account_id,
            status=cmd.status,
            event_ms=now_ms if cmd.event_ms is None else cmd.event_ms,
            received_ms=now_ms,
            error_code=cmd.error_code,
            raw=cmd.raw,
        )
        events.append(event)
        if state.dlr_ms is None or event.event_ms >= state.dlr_ms:
            state.dlr_status, state.dlr_ms = event.status, event.event_ms
            dirty[state.message_id] = state
        out.append(
            DlrRecorded(event.id, cmd.message_id, cmd.status, where.get(cmd.message_id, (None,))[0])
        )
    if events:
        tx.insert_dlrs(events)
        tx.update_states(list(dirty.values()), now_ms)
    return out


def close_windows(tx: WriteTransaction, cmds: Sequence[CloseWindows], now_ms: int) -> list[Outcome]:
    """Turn trackable messages whose window closed without a final status into
    ``not_converted`` (an event of source ``window``, timed at the window's close)."""
    limit = max(c.limit for c in cmds)
    due = tx.due_windows(now_ms, limit)
    events = []
    for state in due:
        assert state.window_due_ms is not None
        event = ConversionEvent(
            id=new_id(now_ms),
            message_id=state.message_id,
            account_id=state.account_id,
            status=ConversionStatus.NOT_CONVERTED,
            type=state.type,
            method=Method.UNKNOWN,
            event_ms=state.window_due_ms,
            received_ms=now_ms,
            source=EventSource.WINDOW,
            dialect=None,
            traffic_class=None,
            dedupe_key=dedupe_key(state.message_id, "window"),
            raw=json.dumps({"window_closed_ms": state.window_due_ms}),
        )
        events.append(event)
        _fold(state, event)
    if events:
        tx.insert_conversions(events)
        tx.update_states(due, now_ms)
    return [WindowsClosed(len(events)) for _ in cmds]


def close_due_windows(tx: WriteTransaction, now_ms: int, limit: int = WINDOW_BATCH) -> int:
    """Close up to ``limit`` due windows in ``tx``; how many were closed."""
    (done,) = close_windows(tx, [CloseWindows(limit)], now_ms)
    assert isinstance(done, WindowsClosed)
    return done.closed
