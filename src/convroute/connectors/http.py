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
from convroute.domain.models import Submission


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
        kwargs: dict[str, Any] = {"json": body} if self.body == "json" else {"data": body}
        try:
            answer = await self.client.request(self.method, self.url, **kwargs)
        except httpx.TimeoutException:
            raise SubmitError(
                "timeout", f"the provider did not answer {self.url}", transient=True
            ) from None
        except httpx.HTTPError as exc:
            raise SubmitError(
                "unreachable", f"{self.url}: {type(exc).__name__}", transient=True
            ) from None
        if not answer.is_success:
            raise SubmitError(
                f"http_{answer.status_code}",
                f"the provider answered {answer.status_code}",
                # busy or down, not a refusal of this message
                transient=answer.status_code in (429, 502, 503, 504),
            )
        return ()

    def state(self) -> dict[str, Any]:
        return READY  # a pooled client: nothing to hold up

    async def aclose(self) -> None:
        await self.client.aclose()
