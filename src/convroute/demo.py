"""The demo set-up of ``convroute serve --demo``: an account and a few routes, created once."""

from __future__ import annotations

from convroute.bootstrap import Container
from convroute.domain.ids import new_id
from convroute.domain.models import Route, RouteDestination
from convroute.domain.statuses import TrafficClass
from convroute.services.accounts import NewAccount, new_account

DEMO_ACCOUNT = "demo"

# Three upstreams serving every country at different prices, as an aggregator would have.
DEMO_ROUTES = (
    ("demo-premium", 0.060),
    ("demo-standard", 0.045),
    ("demo-budget", 0.030),
)


def ensure_demo(c: Container) -> NewAccount | None:
    """Create the demo routes and account if missing; the new account (to print) or None."""
    existing = {r.name for r in c.store.routes()}
    for name, price in DEMO_ROUTES:
        if name not in existing:
            now = c.clock()
            route = Route(
                new_id(now), name, True, "simulated", (RouteDestination("*", price),), now
            )
            c.store.add_route(route)
    if c.store.account_by_name(DEMO_ACCOUNT) is not None:
        return None
    created = new_account(DEMO_ACCOUNT, TrafficClass.TWO_FA, c.clock())
    c.store.create_account(created)
    return created


def usage(created: NewAccount, base_url: str) -> str:
    """How to use the new demo account with curl, printed once."""
    token = created.issued_shown("native")["token"]
    plivo, vonage = created.issued_shown("plivo"), created.issued_shown("vonage")
    bird = created.issued_shown("bird")
    return f"""
convroute demo account created. Its secrets are shown only now:

{created.pretty()}

Try it (native API):

  export TOKEN={token}
  curl -s -X POST {base_url}/api/v1/messages -H "Authorization: Bearer $TOKEN" \\
       -H 'Content-Type: application/json' \\
       -d '{{"src": "Acme", "dst": "+14155552671", "text": "Code: 123456", "trackable": true}}'
  # -> {{"id": "<message id>", "route": {{...}}, ...}}
  curl -s -X POST {base_url}/api/v1/messages/<message id>/conversions \\
       -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' \\
       -d '{{"status": "converted", "timestamp": "2026-01-01T12:00:00Z"}}'
  curl -s {base_url}/api/v1/messages/<message id> -H "Authorization: Bearer $TOKEN"

The same through the provider dialects (docs/dialects.md):

  # Plivo
  curl -s --user {plivo["auth_id"]}:{plivo["auth_token"]} -H 'Content-Type: application/json' \\
       -d '{{"src": "14155551111", "dst": "14155552222", "text": "Code: 1", "trackable": true}}' \\
       {base_url}/v1/Account/{plivo["auth_id"]}/Message/
  curl -s --user {plivo["auth_id"]}:{plivo["auth_token"]} -H 'Content-Type: application/json' \\
       -d '{{"status": "CONVERTED", "timestamp": "2026-01-01T12:00:00Z"}}' \\
       {base_url}/v1/Account/{plivo["auth_id"]}/Message/<message uuid>/Conversion/
  # Vonage
  curl -s -X POST {base_url}/sms/json -d api_key={vonage["api_key"]} \\
       -d api_secret={vonage["api_secret"]} -d from=Acme -d to=447700900001 -d text='Code: 1'
  curl -s -X POST {base_url}/conversions/sms -d api_key={vonage["api_key"]} \\
       -d api_secret={vonage["api_secret"]} -d message-id=<message-id> -d delivered=1
  # Bird (message ids come from the native send above)
  curl -s -w '%{{http_code}}\\n' -H 'Authorization: AccessKey {bird["access_key"]}' \\
       -H 'Content-Type: application/json' -d '{{"type": "otp", "status": "converted"}}' \\
       {base_url}/workspaces/{bird["workspace_id"]}/channels/any/messages/<message id>/conversions

Unreported trackable OTPs turn not_converted when their window (10 min) closes.
API reference: {base_url}/docs
"""
