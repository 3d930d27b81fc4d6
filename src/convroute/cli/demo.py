"""The demo set-up of ``convroute serve --demo``: an account and three simulated routes,
created once, and a router tuned to the demo's pace.

The routes are the carriers of ``scenarios/demo.toml``; ``convroute simulate --against``
plays that scenario at ``DEMO_SPEED`` times real time, so the router's conversion-delay
model and the account's OTP window are divided by the same factor. The account's secrets and
an operator token are written once to ``demo-credentials.json`` beside the database (0600),
which the traffic driver reads.
"""

from __future__ import annotations

import dataclasses
import json
import os
import secrets
from pathlib import Path
from typing import Any

from convroute.bootstrap import Container
from convroute.config import Settings
from convroute.domain.models import RouteDestination
from convroute.domain.statuses import MessageType, TrafficClass
from convroute.services.accounts import NewAccount, new_account
from convroute.services.routes import new_route
from convroute.storage.engines import normalize_url, sqlite_path

DEMO_ACCOUNT = "demo"
DEMO_SCENARIO = Path("scenarios/demo.toml")
DEMO_SPEED = 20.0
SCENARIO_WINDOW_S = 300.0  # the demo scenario's conversion window
SCENARIO_DELAY_MEDIAN_S = 20.0

# Three upstreams serving every country at different prices, as an aggregator would have.
DEMO_ROUTES = (
    ("demo-premium", 0.060),
    ("demo-standard", 0.045),
    ("demo-budget", 0.030),
)


def credentials_path(settings: Settings) -> Path:
    """Where the demo's credentials file goes: beside the SQLite database, else here."""
    path = sqlite_path(normalize_url(settings.database_url))
    return (path.parent if path else Path()) / "demo-credentials.json"


def demo_settings(settings: Settings) -> Settings:
    """``settings`` for the demo: the router at the demo's pace (unless configured), and an
    operator token (the one in the credentials file, or a new one)."""
    changes: dict[str, Any] = {}
    defaults = Settings()
    if settings.routing_delay_median_seconds == defaults.routing_delay_median_seconds:
        changes["routing_delay_median_seconds"] = SCENARIO_DELAY_MEDIAN_S / DEMO_SPEED
    if settings.routing_window_seconds == defaults.routing_window_seconds:
        changes["routing_window_seconds"] = SCENARIO_WINDOW_S / DEMO_SPEED
    if settings.routing_pace == defaults.routing_pace:
        changes["routing_pace"] = DEMO_SPEED
    if settings.window_sweep_seconds == defaults.window_sweep_seconds:
        changes["window_sweep_seconds"] = 1.0  # 15 s windows: close them within a second
    if not settings.admin_token:
        saved = credentials_path(settings)
        token = None
        if saved.exists():
            token = json.loads(saved.read_text()).get("admin_token")
        changes["admin_token"] = token or secrets.token_urlsafe(24)
    return dataclasses.replace(settings, **changes)


def ensure_demo(c: Container) -> NewAccount | None:
    """Create the demo routes and account if missing; the new account (to print) or None."""
    existing = {r.name for r in c.store.routes()}
    config: dict[str, Any] = {}
    if DEMO_SCENARIO.exists():
        config = {"scenario": str(DEMO_SCENARIO.resolve())}
    for name, price in DEMO_ROUTES:
        if name not in existing:
            route = new_route(name, [RouteDestination("*", price)], c.clock(), "simulated", config)
            c.store.add_route(route)
    if c.store.account_by_name(DEMO_ACCOUNT) is not None:
        return None
    created = new_account(DEMO_ACCOUNT, TrafficClass.TWO_FA, c.clock())
    c.store.create_account(created)
    c.store.set_window(
        created.account.id, MessageType.OTP, max(1, round(SCENARIO_WINDOW_S / DEMO_SPEED))
    )
    write_credentials(c.settings, created)
    return created


def write_credentials(settings: Settings, created: NewAccount) -> Path:
    """The account's secrets and the operator token, readable by the owner only."""
    path = credentials_path(settings)
    doc = {
        "admin_token": settings.admin_token,
        "account": {"id": created.account.id, "name": created.account.name},
        "credentials": {d: created.issued_shown(d) for d in ("native", "plivo", "vonage", "bird")},
    }
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump(doc, f, indent=2)
    return path


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

Verify: convroute sends the code and checks it (the demo's routes are simulated: the code
shows up on the simulated handset, which the operator token reads):

  curl -s -X POST {base_url}/api/v1/verifications -H "Authorization: Bearer $TOKEN" \\
       -H 'Content-Type: application/json' -d '{{"to": "+447700900123"}}'
  curl -s {base_url}/api/v1/simulated/handsets/+447700900123 \\
       -H "Authorization: Bearer <operator token, below>"
  curl -s -X POST {base_url}/api/v1/verifications/<verification id>/check \\
       -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' \\
       -d '{{"code": "<code>"}}'

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

Unreported trackable OTPs turn not_converted when their window closes (15 s in the demo,
which runs the router at {DEMO_SPEED:g}x the scenario's pace; 10 min by default).
API reference: {base_url}/docs
"""


def learning(settings: Settings, base_url: str) -> str:
    """How to watch the router learn, printed at every demo start."""
    creds = credentials_path(settings)
    return f"""
Watch the router learn (in another terminal; about three minutes, the outage at one):

  .venv/bin/convroute simulate --against {base_url} {DEMO_SCENARIO} \\
       --credentials {creds} --speed {DEMO_SPEED:g}
  curl -s '{base_url}/api/v1/routes/quality?country=GB' \\
       -H "Authorization: Bearer {settings.admin_token}"

Then watch it on the dashboard (sign in with the operator token; 6-second buckets suit the
demo's pace): {base_url}/dashboard?country=GB&hours=0.1&bucket_minutes=0.1&poll=5

Operator token (routes, route quality, dashboard): {settings.admin_token}
"""
