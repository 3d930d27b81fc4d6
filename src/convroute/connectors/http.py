"""The ``http`` connector: forwards each message to a provider's send API.

The request is built from the route's config (``configs.check_http``): each body field is a
template over the message (``{src}``, ``{dst}``, ``{dst_digits}``, ``{text}``,
``{message_id}``, ``{country}``, ``{client_ref}``), sent as JSON or a form, with the
configured headers and HTTP Basic credentials. A 2xx answer is a submission; anything else,
a timeout or a refused connection is a ``SubmitError`` (recorded as a failed DLR). The
provider's receipts come back through the DLR intake (``POST /api/v1/messages/{id}/dlr``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import httpx

from convroute.connectors.base import READY, SubmitError
from convroute.connectors.configs import DEFAULT_FIELDS
from convroute.connectors.providers.base import Call
from convroute.domain.models import Submission

TRANSIENT = (429, 502, 503, 504)
"""Answers that say the provider is busy or down, not that it refuses this message."""


async def exchange(client: httpx.AsyncClient, call: Call) -> httpx.Response:
    """Make ``call``: its 2xx answer, or ``SubmitError`` (transient when the provider did not
    answer, is busy or down)."""
    try:
        answer = await client.request(
            call.method,
            call.url,
            json=call.json,
            data=call.data,
            headers=dict(call.headers),
            auth=call.auth if call.auth is not None else httpx.USE_CLIENT_DEFAULT,
        )
    except httpx.TimeoutException:
        raise SubmitError("timeout", f"no answer from {_host(call.url)}", transient=True) from None
    except httpx.HTTPError as exc:
        raise SubmitError(
            "unreachable", f"{_host(call.url)}: {type(exc).__name__}", transient=True
        ) from None
    if not answer.is_success:
        raise SubmitError(
            f"http_{answer.status_code}",
            f"{_host(call.url)} answered {answer.status_code}{_said(answer)}",
            transient=answer.status_code in TRANSIENT,
        )
    return answer


def _host(url: str) -> str:
    return httpx.URL(url).host or url


def _said(answer: httpx.Response) -> str:
    """What a refusal's body says, where it says it as JSON (``error`` or ``message``)."""
    try:
        body = answer.json()
    except ValueError:
        return ""
    if isinstance(body, dict):
        said = body.get("error") or body.get("message") or body.get("error_text")
        if isinstance(said, str | int):
            return f": {str(said)[:200]}"
    return ""


def render_fields(fields: Mapping[str, str], message: Submission) -> dict[str, str]:
    """The request's body fields for ``message``."""
    values = {
        "message_id": message.message_id,
        "src": message.src,
        "dst": message.dst,
        "dst_digits": message.dst.lstrip("+"),
        "text": message.text,
        "country": message.country,
        "client_ref": message.client_ref or "",
    }
    return {name: template.format_map(values) for name, template in fields.items()}


class HttpConnector:
    """One provider endpoint, with a pooled client."""

    forwards_conversions = False

    def __init__(self, config: Mapping[str, Any]) -> None:
        self.url: str = config["url"]
        self.method: str = config.get("method", "POST")
        self.body: str = config.get("body", "json")
        self.fields: Mapping[str, str] = config.get("fields", DEFAULT_FIELDS)
        auth = config.get("basic_auth")
        user, _, password = auth.partition(":") if auth else ("", "", "")
        self.client = httpx.AsyncClient(
            timeout=float(config.get("timeout_s", 10)),
            headers=dict(config.get("headers", {})),
            auth=(user, password) if auth else None,
        )

    async def submit(self, message: Submission) -> Sequence[str]:
        body = render_fields(self.fields, message)
        call = (
            Call(self.method, self.url, json=body)
            if self.body == "json"
            else Call(self.method, self.url, data=body)
        )
        await exchange(self.client, call)
        return ()

    def state(self) -> dict[str, Any]:
        return READY  # a pooled client: nothing to hold up

    async def aclose(self) -> None:
        await self.client.aclose()
