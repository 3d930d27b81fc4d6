"""The connector of a provider route: sends over the provider's API, forwards conversions
to it. Its status callbacks come in through ``api/callbacks.py`` at the route's callback URL
(``{public_url}/callbacks/{route_id}``, or the route's ``callback_url``)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import httpx

from convroute.connectors.base import READY
from convroute.connectors.http import exchange
from convroute.connectors.providers.base import Provider, with_reference
from convroute.connectors.providers.bird import BIRD
from convroute.connectors.providers.plivo import PLIVO
from convroute.connectors.providers.twilio import TWILIO
from convroute.connectors.providers.vonage import VONAGE
from convroute.domain.models import Forward, Submission

PROVIDERS: dict[str, Provider] = {p.name: p for p in (PLIVO, VONAGE, TWILIO, BIRD)}


def callback_url(route_id: str, config: Mapping[str, Any], public_url: str | None) -> str | None:
    """Where the provider sends the route's status callbacks (what it signs)."""
    if config.get("callback_url"):
        return str(config["callback_url"])
    return f"{public_url.rstrip('/')}/callbacks/{route_id}" if public_url else None


class ProviderConnector:
    """One provider account, with a pooled client."""

    def __init__(
        self, provider: Provider, route_id: str, config: Mapping[str, Any], public_url: str | None
    ) -> None:
        self.provider = provider
        self.config = config
        self.callback = callback_url(route_id, config, public_url)
        self.forwards_conversions = bool(config.get("forward_conversions", True))
        self.client = httpx.AsyncClient(timeout=float(config.get("timeout_s", 10)))

    async def submit(self, message: Submission) -> Sequence[str]:
        callback = self.callback
        if callback and self.provider.reference_in_callback:
            callback = with_reference(callback, message.message_id)
        answer = await exchange(self.client, self.provider.send(self.config, message, callback))
        return self.provider.sent(answer.status_code, _json(answer))

    async def forward(self, conversion: Forward) -> bool:
        """Report the conversion to the provider; False when it has no word for it."""
        call = self.provider.forward(self.config, conversion)
        if call is None:
            return False
        await exchange(self.client, call)
        return True

    def state(self) -> dict[str, Any]:
        return READY

    async def aclose(self) -> None:
        await self.client.aclose()


def _json(answer: httpx.Response) -> Any:
    try:
        return answer.json()
    except ValueError:
        return None
