"""Stub providers on 127.0.0.1, speaking each provider's documented wire format: Plivo's
Message API and Conversion Feedback, Vonage's SMS API and Conversion API, Twilio's Messages
API and Message Feedback, Bird's Channels API and conversions. Each checks the credentials
it was given, answers as the provider answers, and records what it received; ``answer``
overrides the status of one kind of request (to make a provider refuse, throttle or fail).

The status callbacks these providers send are signed here as each provider documents it,
written independently of ``convroute.connectors.providers`` (a test of it must not share its
code)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import itertools
import json
import re
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

CONFIGS: dict[str, dict[str, str]] = {
    "plivo": {"auth_id": "MAPLIVO0001", "auth_token": "plivo-token"},
    "vonage": {
        "api_key": "vkey",
        "api_secret": "vsecret",
        "signature_secret": "vsigsecret",
        "signature_method": "sha256",
    },
    "twilio": {"account_sid": "AC0123456789", "auth_token": "twilio-token"},
    "bird": {
        "access_key": "bird-key",
        "workspace_id": "ws-1",
        "channel_id": "ch-1",
        "signing_key": "bird-signing",
    },
}

_ROUTES = [
    ("plivo", "send", r"^/v1/Account/(?P<acct>[^/]+)/Message/$"),
    ("plivo", "conversion", r"^/v1/Account/(?P<acct>[^/]+)/Message/(?P<id>[^/]+)/Conversion/$"),
    ("vonage", "send", r"^/sms/json$"),
    ("vonage", "conversion", r"^/conversions/sms$"),
    ("twilio", "send", r"^/2010-04-01/Accounts/(?P<acct>[^/]+)/Messages\.json$"),
    (
        "twilio",
        "conversion",
        r"^/2010-04-01/Accounts/(?P<acct>[^/]+)/Messages/(?P<id>[^/]+)/Feedback\.json$",
    ),
    ("bird", "send", r"^/workspaces/(?P<acct>[^/]+)/channels/[^/]+/messages$"),
    ("bird", "conversion", r"^/workspaces/[^/]+/channels/[^/]+/messages/[^/]+/conversions$"),
]  # fmt: skip


@dataclass
class Received:
    provider: str
    kind: str  # send | conversion
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: Any  # parsed JSON, or the form as a dict


@dataclass
class StubProviders:
    received: list[Received] = field(default_factory=list)
    answer: dict[tuple[str, str], int] = field(default_factory=dict)  # (provider, kind) -> status
    vonage_status: str = "0"  # the SMS API's per-message status ("1": throttled)
    ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    def of(self, provider: str, kind: str) -> list[Received]:
        return [r for r in self.received if r.provider == provider and r.kind == kind]


def _authorized(provider: str, headers: dict[str, str], body: Any, query: dict[str, str]) -> bool:
    config = CONFIGS[provider]
    if provider in ("plivo", "twilio"):
        user = config["auth_id"] if provider == "plivo" else config["account_sid"]
        expected = base64.b64encode(f"{user}:{config['auth_token']}".encode()).decode()
        return headers.get("authorization") == f"Basic {expected}"
    if provider == "bird":
        return headers.get("authorization") == f"AccessKey {config['access_key']}"
    params = {**query, **(body if isinstance(body, dict) else {})}
    return (
        params.get("api_key") == config["api_key"]
        and params.get("api_secret") == config["api_secret"]
    )


def _answer(stub: StubProviders, provider: str, kind: str) -> tuple[int, Any]:
    if kind == "conversion":
        return 200, {"status": "ok"}
    n = next(stub.ids)
    if provider == "plivo":
        return 202, {"api_id": f"api-{n}", "message": "message(s) queued",
                     "message_uuid": [f"plivo-{n}"]}  # fmt: skip
    if provider == "vonage":
        part = {"status": stub.vonage_status, "message-id": f"vonage-{n}", "to": "447700900001"}
        if stub.vonage_status != "0":
            part["error-text"] = "Throughput Rate Exceeded" if stub.vonage_status == "1" else "bad"
        return 200, {"message-count": "1", "messages": [part]}
    if provider == "twilio":
        return 201, {"sid": f"SM{n:032d}", "status": "queued"}
    return 202, {"id": f"bird-{n}", "status": "accepted"}


def serve(stub: StubProviders) -> tuple[ThreadingHTTPServer, str]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            parts = urlsplit(self.path)
            raw = self.rfile.read(int(self.headers.get("content-length", 0)))
            headers = {k.lower(): v for k, v in self.headers.items()}
            if headers.get("content-type", "").startswith("application/json"):
                body: Any = json.loads(raw) if raw else None
            else:
                body = dict(parse_qsl(raw.decode(), keep_blank_values=True))
            query = dict(parse_qsl(parts.query))
            found = [(p, k) for p, k, pattern in _ROUTES if re.match(pattern, parts.path)]
            if not found:
                return self._reply(404, {"error": "not found"})
            provider, kind = found[0]
            if not _authorized(provider, headers, body, query):
                return self._reply(401, {"error": "authentication failed"})
            stub.received.append(Received(provider, kind, parts.path, query, headers, body))
            forced = stub.answer.get((provider, kind))
            if forced is not None:
                return self._reply(forced, {"error": f"forced {forced}"})
            self._reply(*_answer(stub, provider, kind))

        def _reply(self, status: int, payload: Any) -> None:
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}"


# -- the providers' signatures, as each documents it ------------------------------------------


def plivo_v3(auth_token: str, url: str, form: dict[str, str], nonce: str) -> str:
    """Plivo V3 for a POST: the URL (its query sorted) + ``?`` when the query is empty +
    ``.`` between a query and the fields + each field as namevalue, sorted + ``.`` + nonce."""
    base, _, query = url.partition("?")
    pairs = sorted(parse_qsl(query, keep_blank_values=True))
    signed = base + "?" + "&".join(f"{k}={v}" for k, v in pairs)
    if pairs:
        signed += "."
    signed += "".join(k + form[k] for k in sorted(form)) + "." + nonce
    digest = hmac.new(auth_token.encode(), signed.encode(), hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def twilio(auth_token: str, url: str, form: dict[str, str]) -> str:
    signed = url + "".join(k + form[k] for k in sorted(form))
    digest = hmac.new(auth_token.encode(), signed.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


def vonage(secret: str, params: dict[str, str]) -> str:
    signed = "".join(
        "&{}={}".format(k, params[k].replace("&", "_").replace("=", "_")) for k in sorted(params)
    )
    return hmac.new(secret.encode(), signed.encode(), hashlib.sha256).hexdigest()


def bird(signing_key: str, timestamp: str, url: str, body: bytes) -> str:
    signed = timestamp.encode() + b"\n" + url.encode() + b"\n" + hashlib.sha256(body).digest()
    return base64.b64encode(
        hmac.new(signing_key.encode(), signed, hashlib.sha256).digest()
    ).decode()
