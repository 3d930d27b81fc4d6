"""A small, honest SMSC on loopback for the SMPP connector's tests: SMPP 3.4 over real TCP
(PDUs by smpplib, as a carrier's SMSC would send them), run on its own event loop in a
thread. It binds ESMEs by system_id/password, acknowledges ``submit_sm`` with its own message
ids, and sends receipts of the kind a test asks for; it can throttle, refuse, drop the
connection and keep quiet."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import struct
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from smpplib import consts
from smpplib import smpp as pdus

MESSAGE_ID_TAG = 0x1400  # the ESME's own id for the message (a vendor TLV)


def pdu_bytes(command: str, sequence: int, status: int = 0, **fields: Any) -> bytes:
    pdu = pdus.make_pdu(command, client=None, sequence=sequence, **fields)
    pdu.sequence = sequence
    pdu.status = status
    data: bytes = pdu.generate()
    return data


@dataclass
class Submitted:
    upstream_id: str
    ours: str | None  # the ESME's message id, from its TLV
    source: str
    destination: str
    data_coding: int
    esm_class: int
    short_message: bytes
    registered_delivery: int


@dataclass
class Smsc:
    system_id: str = "convroute"
    password: str = "secret"
    receipts: str = "honest"  # honest | fake | none | undeliv | tlv | enroute_then_delivered
    receipt_delay_s: float = 0.0
    throttle_first: int = 0  # answer ESME_RTHROTTLED to this many submits first
    refuse_status: int = 0  # answer every submit with this error status (0: accept)
    drop_after: int = 0  # close the connection after this many submits (once)
    undelivered_destinations: set[str] = field(default_factory=set)
    submitted: list[Submitted] = field(default_factory=list)
    binds: list[str] = field(default_factory=list)
    enquire_links: int = 0
    throttled: int = 0
    port: int = 0

    def __post_init__(self) -> None:
        self._ids = itertools.count(1000)
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._writers: list[asyncio.StreamWriter] = []
        self._dropped = False
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()
        self._ready.wait(5)

    def _serve(self) -> None:
        asyncio.set_event_loop(self._loop)
        server = self._loop.run_until_complete(
            asyncio.start_server(self._client, "127.0.0.1", self.port)
        )
        self.port = server.sockets[0].getsockname()[1]
        self._server = server
        self._ready.set()
        self._loop.run_forever()

    def close(self) -> None:
        async def shut() -> None:
            self._server.close()
            for w in self._writers:
                w.close()
            for w in self._writers:
                with contextlib.suppress(Exception):
                    await w.wait_closed()
            await self._server.wait_closed()
            tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

        asyncio.run_coroutine_threadsafe(shut(), self._loop).result(5)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)
        self._loop.close()

    def config(self, **extra: Any) -> dict[str, Any]:
        """A route config bound to this SMSC."""
        return {
            "host": "127.0.0.1",
            "port": self.port,
            "system_id": self.system_id,
            "password": self.password,
            **extra,
        }

    def unique(self) -> dict[str, int]:
        """Our message ids as the SMSC saw them (a resend deduplicates to one), per id: parts."""
        out: dict[str, int] = {}
        for s in self.submitted:
            if s.ours:
                out[s.ours] = out.get(s.ours, 0) + 1
        return out

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.append(writer)
        bound = False
        try:
            while True:
                header = await reader.readexactly(16)
                length, _, _, sequence = struct.unpack(">LLLL", header)
                data = header + await reader.readexactly(length - 16)
                pdu = pdus.parse_pdu(data, client=None, sequence=0, allow_unknown_opt_params=True)
                name = pdu.command
                if name.startswith("bind_"):
                    ok = _s(pdu.system_id) == self.system_id and _s(pdu.password) == self.password
                    self.binds.append(name if ok else f"{name} refused")
                    status = 0 if ok else consts.SMPP_ESME_RINVPASWD
                    writer.write(pdu_bytes(name + "_resp", sequence, status, system_id="testsmsc"))
                    bound = ok
                    if not ok:
                        await writer.drain()
                        return
                elif name == "enquire_link":
                    self.enquire_links += 1
                    writer.write(pdu_bytes("enquire_link_resp", sequence))
                elif name == "submit_sm" and bound:
                    await self._submit(pdu, data, sequence, writer)
                elif name == "unbind":
                    writer.write(pdu_bytes("unbind_resp", sequence))
                    await writer.drain()
                    return
                elif name.endswith("_resp"):
                    pass  # deliver_sm_resp, enquire_link_resp
                else:
                    writer.write(pdu_bytes("generic_nack", sequence, consts.SMPP_ESME_RINVBNDSTS))
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            return
        finally:
            writer.close()

    async def _submit(
        self, pdu: Any, data: bytes, sequence: int, writer: asyncio.StreamWriter
    ) -> None:
        if self.throttle_first > self.throttled:
            self.throttled += 1
            writer.write(pdu_bytes("submit_sm_resp", sequence, consts.SMPP_ESME_RTHROTTLED,
                                   message_id=""))  # fmt: skip
            return
        if self.refuse_status:
            writer.write(pdu_bytes("submit_sm_resp", sequence, self.refuse_status, message_id=""))
            return
        upstream = f"S{next(self._ids)}"
        submitted = Submitted(
            upstream,
            _ours(data),
            _s(pdu.source_addr),
            _s(pdu.destination_addr),
            int(pdu.data_coding or 0),
            int(pdu.esm_class or 0),
            bytes(pdu.short_message or b""),
            int(pdu.registered_delivery or 0),
        )
        self.submitted.append(submitted)
        writer.write(pdu_bytes("submit_sm_resp", sequence, message_id=upstream))
        await writer.drain()
        if self.drop_after and len(self.submitted) >= self.drop_after and not self._dropped:
            self._dropped = True
            writer.close()  # the link goes down right after the answer
            return
        if self.receipts != "none" and submitted.registered_delivery:
            asyncio.get_running_loop().create_task(self._receipt(submitted, writer))

    async def _receipt(self, s: Submitted, writer: asyncio.StreamWriter) -> None:
        await asyncio.sleep(self.receipt_delay_s)
        if self.receipts == "enroute_then_delivered":
            self._deliver(writer, s, "ENROUTE")
            await asyncio.sleep(0.05)
        honest = "UNDELIV" if s.destination in self.undelivered_destinations else "DELIVRD"
        stat = {"fake": "DELIVRD", "undeliv": "UNDELIV"}.get(self.receipts, honest)
        self._deliver(writer, s, stat)

    def _deliver(self, writer: asyncio.StreamWriter, s: Submitted, stat: str) -> None:
        stamp = time.strftime("%y%m%d%H%M", time.gmtime())
        err = "000" if stat == "DELIVRD" else "034"
        fields: dict[str, Any] = {}
        if self.receipts == "tlv":
            text = b""
            fields = {"receipted_message_id": s.upstream_id,
                      "message_state": 2 if stat == "DELIVRD" else 5}  # fmt: skip
        else:
            text = (
                f"id:{s.upstream_id} sub:001 dlvrd:{'001' if stat == 'DELIVRD' else '000'} "
                f"submit date:{stamp} done date:{stamp} stat:{stat} err:{err} Text:"
            ).encode()
        with_sequence = next(self._ids)
        with contextlib.suppress(RuntimeError, ConnectionError):  # the link is gone
            writer.write(
                pdu_bytes(
                    "deliver_sm", with_sequence, source_addr=s.destination,
                    destination_addr=s.source, esm_class=0x04, short_message=text, **fields,
                )
            )  # fmt: skip


def _s(value: Any) -> str:
    return value.decode("latin-1") if isinstance(value, bytes) else str(value or "")


def _ours(data: bytes) -> str | None:
    """Our message id from the vendor TLV at the end of a submit_sm."""
    pos = data.rfind(struct.pack(">H", MESSAGE_ID_TAG))
    while pos >= 0:
        length = struct.unpack(">H", data[pos + 2 : pos + 4])[0]
        if pos + 4 + length == len(data):
            return data[pos + 4 :].decode("latin-1")
        pos = data.rfind(struct.pack(">H", MESSAGE_ID_TAG), 0, pos)
    return None
