"""One SMPP 3.4 bind to an SMSC, on asyncio: bind, a submit window, enquire_link keep-alive,
reconnect with back-off, throttling answered as back-pressure.

Written here, over smpplib's PDUs, because neither library does it the way a router needs:
smpplib's ``Client`` blocks a thread per bind on its socket, and aiosmpplib's ``ESME`` sends
from its own in-memory queue (our outbox is the queue, durable), has no TLS and no in-flight
window. See docs/routing.md, "Connectors"."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from smpplib import consts

from convroute.connectors.base import SubmitError
from convroute.connectors.smpp.codec import HEADER, make, parse
from convroute.observe import events

log = logging.getLogger("convroute.connectors.smpp")

THROTTLED = {consts.SMPP_ESME_RTHROTTLED, consts.SMPP_ESME_RMSGQFUL}
"""Answers that mean "slow down", not "this message is refused"."""

_RESPONSES = 0x80000000


@dataclass(frozen=True, slots=True)
class SmppConfig:
    """A route's SMSC (validated by ``connectors/configs.py: check_smpp``)."""

    host: str
    port: int
    system_id: str
    password: str
    system_type: str = ""
    bind: str = "transceiver"  # or "transmitter_receiver": two binds
    tls: bool = False
    tls_verify: bool = True
    window: int = 10  # submits in flight at once
    enquire_link_s: float = 30.0
    submit_timeout_s: float = 10.0  # for the submit_sm_resp
    connect_timeout_s: float = 5.0  # a submit waits this long for a bind
    throttle_max_s: float = 5.0  # how long throttling may hold a message before it fails over
    reconnect_max_s: float = 30.0

    @classmethod
    def of(cls, config: dict[str, Any]) -> SmppConfig:
        known = set(cls.__dataclass_fields__)
        return cls(**{k: v for k, v in config.items() if k in known})


class Session:
    """A bind as ``mode`` (transceiver, transmitter or receiver), kept up until ``close``."""

    def __init__(
        self,
        config: SmppConfig,
        mode: str,
        on_deliver: Callable[[Any], Awaitable[None]],
        route: str = "",
    ) -> None:
        self.route = route  # its name, in the events it logs
        self.config = config
        self.mode = mode
        self.on_deliver = on_deliver
        self.state = "connecting"  # bound, reconnecting, closed
        self.throttled = False
        self.reconnects = 0
        self.last_error: str | None = None
        self._window = asyncio.Semaphore(config.window)
        self._in_use = 0
        self._bound = asyncio.Event()
        self._pending: dict[int, asyncio.Future[Any]] = {}
        self._sequence = 0
        self._writer: asyncio.StreamWriter | None = None
        self._task: asyncio.Task[None] | None = None

    @property
    def window_in_use(self) -> int:
        return self._in_use

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run())

    def _next(self) -> int:
        self._sequence = self._sequence % 0x7FFFFFFF + 1
        return self._sequence

    async def submit(self, extra: bytes, **fields: Any) -> str:
        """Send one ``submit_sm``; the SMSC's message id. Throttling waits and tries again
        (up to ``throttle_max_s``); SubmitError when the SMSC refuses it or cannot be used."""
        self.start()
        waited = 0.0
        delay = 0.1
        while True:
            status, answer = await self._request("submit_sm", extra, **fields)
            if status == consts.SMPP_ESME_ROK:
                if self.throttled:
                    self._event("unthrottled", waited_s=round(waited, 2))
                self.throttled = False
                message_id = answer.message_id or b""
                return message_id.decode("latin-1") if isinstance(message_id, bytes) else ""
            if status in THROTTLED:
                if not self.throttled:
                    self._event("throttled", "warning", status=f"0x{status:08x}")
                self.throttled = True
                if waited + delay > self.config.throttle_max_s:
                    raise SubmitError(
                        "throttled", f"the SMSC throttled for {waited:.1f} s", transient=True
                    )
                await asyncio.sleep(delay)
                waited += delay
                delay = min(delay * 2, 1.0)
                continue
            raise SubmitError(f"smpp_0x{status:08x}", _describe(status))

    async def _request(self, command: str, extra: bytes = b"", **fields: Any) -> tuple[int, Any]:
        try:
            await asyncio.wait_for(self._bound.wait(), self.config.connect_timeout_s)
        except TimeoutError:
            why = self.last_error or "not bound"
            raise SubmitError("unreachable", f"the SMSC is not bound: {why}", True) from None
        async with self._window:
            self._in_use += 1
            try:
                sequence = self._next()
                future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
                self._pending[sequence] = future
                writer = self._writer
                if writer is None:
                    raise SubmitError("unreachable", "the SMSC connection dropped", True)
                writer.write(make(command, sequence, extra=extra, **fields))
                try:
                    answer = await asyncio.wait_for(future, self.config.submit_timeout_s)
                except TimeoutError:
                    raise SubmitError(
                        "timeout", "the SMSC did not answer the submit", transient=True
                    ) from None
                except ConnectionError as exc:
                    raise SubmitError("unreachable", f"the SMSC dropped: {exc}", True) from None
                return int(answer.status), answer
            finally:
                self._pending.pop(sequence, None)
                self._in_use -= 1

    def _event(self, what: str, level: str = "info", **fields: Any) -> None:
        c = self.config
        events.connector(
            what, level, route=self.route, mode=self.mode, smsc=f"{c.host}:{c.port}", **fields
        )

    async def _run(self) -> None:
        delay = 0.5
        while True:
            try:
                await self._session()
                delay = 0.5  # it was bound: reconnect soon
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self.last_error = f"{type(exc).__name__}: {exc}"
                log.warning("SMPP %s:%s: %s", self.config.host, self.config.port, self.last_error)
            if self.state == "bound":
                self._event("dropped", "warning", error=self.last_error)
            self._drop()
            self.state = "reconnecting"
            self.reconnects += 1
            await asyncio.sleep(delay)
            delay = min(delay * 2, self.config.reconnect_max_s)

    async def _session(self) -> None:
        c = self.config
        context = None
        if c.tls:
            context = ssl.create_default_context()
            if not c.tls_verify:
                context.check_hostname = False
                context.verify_mode = ssl.CERT_NONE
        reader, writer = await asyncio.wait_for(
            asyncio.open_connection(c.host, c.port, ssl=context), c.connect_timeout_s
        )
        self._writer = writer
        try:
            await self._bind(reader, writer)
            self.state = "bound"
            self.last_error = None
            self._event("bound", reconnects=self.reconnects)
            self._bound.set()
            keep = asyncio.create_task(self._keep_alive(writer))
            try:
                await self._read(reader, writer)
            finally:
                keep.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await keep
        finally:
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    async def _bind(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        c = self.config
        writer.write(
            make(
                f"bind_{self.mode}",
                self._next(),
                system_id=c.system_id,
                password=c.password,
                system_type=c.system_type,
                interface_version=0x34,
                addr_ton=0,
                addr_npi=0,
                address_range="",
            )
        )
        answer = parse(await asyncio.wait_for(_read_pdu(reader), c.connect_timeout_s))
        if answer.status != consts.SMPP_ESME_ROK:
            raise ConnectionError(f"bind refused: {_describe(answer.status)}")

    async def _keep_alive(self, writer: asyncio.StreamWriter) -> None:
        while True:
            await asyncio.sleep(self.config.enquire_link_s)
            writer.write(make("enquire_link", self._next()))

    async def _read(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        idle = self.config.enquire_link_s * 2 + self.config.submit_timeout_s
        while True:
            data = await asyncio.wait_for(_read_pdu(reader), idle)  # a dead link times out
            _, command_id, _, sequence = HEADER.unpack(data[:16])
            if command_id & _RESPONSES:  # a response (generic_nack too: 0x80000000)
                future = self._pending.get(sequence)
                if future is not None and not future.done():
                    future.set_result(parse(data))
                continue
            pdu = parse(data)
            if pdu.command == "deliver_sm":
                writer.write(make("deliver_sm_resp", sequence, message_id=""))
                try:
                    await self.on_deliver(pdu)
                except Exception:  # a receipt we could not record is logged, not fatal
                    log.exception("a deliver_sm could not be handled")
            elif pdu.command == "enquire_link":
                writer.write(make("enquire_link_resp", sequence))
            elif pdu.command == "unbind":
                writer.write(make("unbind_resp", sequence))
                raise ConnectionError("the SMSC unbound")
            else:
                writer.write(make("generic_nack", sequence, status=consts.SMPP_ESME_RINVCMDID))

    def _drop(self) -> None:
        self._bound.clear()
        self._writer = None
        for future in self._pending.values():
            if not future.done():
                future.set_exception(ConnectionError(self.last_error or "connection lost"))

    async def close(self) -> None:
        writer = self._writer
        if writer is not None and self.state == "bound":
            with contextlib.suppress(Exception):
                writer.write(make("unbind", self._next()))
                await writer.drain()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        self._drop()
        self.state = "closed"


async def _read_pdu(reader: asyncio.StreamReader) -> bytes:
    header = await reader.readexactly(16)
    length = HEADER.unpack(header)[0]
    if not 16 <= length <= 64 * 1024:
        raise ConnectionError(f"a PDU of {length} bytes")
    return header + await reader.readexactly(length - 16)


def _describe(status: int) -> str:
    return str(consts.DESCRIPTIONS.get(status, f"status 0x{status:08x}"))
