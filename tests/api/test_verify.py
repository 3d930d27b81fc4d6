"""Verify through the app (issue 23): convroute sends the code over a routed message and
checks it; every outcome is the right conversion status on its message; the code is never
returned; one account never sees or checks another's verification; the attempts hold under
concurrent checks; on every backend."""

from __future__ import annotations

import dataclasses
import random
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from convroute.domain.statuses import ConversionStatus
from convroute.services.guard import Limits
from tests.api.conftest import ADMIN, Api
from tests.conftest import add_route

PATH = "/api/v1/verifications"
TO = "+447700900123"


class Phone:
    """The codes' randomness, seeded, remembering each code drawn: what the user's phone
    would show (the API never returns a code)."""

    def __init__(self, seed: int = 7) -> None:
        self.rng = random.Random(seed)
        self.codes: list[str] = []

    def __call__(self, n: int) -> int:
        value = self.rng.randrange(n)
        self.codes.append(str(value).zfill(len(str(n)) - 1))
        return value


@pytest.fixture
def phone(api_any: Api) -> Phone:
    p = Phone()
    api_any.container.verifier.randbelow = p
    return p


def _start(api: Api, who: Any = None, **body: Any) -> dict[str, Any]:
    r = api.client.post(PATH, json={"to": TO, **body}, headers=api.auth(who))
    assert r.status_code == 201, r.text
    out: dict[str, Any] = r.json()
    return out


def _check(api: Api, vid: str, code: str, who: Any = None, **extra: Any) -> Any:
    return api.client.post(
        f"{PATH}/{vid}/check", json={"code": code, **extra}, headers=api.auth(who)
    )


def _status(api: Api, message_id: str) -> str | None:
    status: str | None = api.view(message_id)["status"]
    return status


def test_a_code_is_sent_and_checked_and_each_outcome_is_a_conversion(
    api_any: Api, phone: Phone
) -> None:
    api = api_any
    started = _start(api, locale="fr", client_ref="signup-42")
    assert started["status"] == "pending"
    assert started["attempts_left"] == 5
    assert started["client_ref"] == "signup-42"
    (code,) = phone.codes
    assert len(code) == 6
    assert code not in str(started)  # never returned
    message = api.view(started["message_id"])
    assert message["trackable"] is True
    assert message["type"] == "otp"
    assert message["client_ref"] == f"verify:{started['id']}"
    assert message["route"]["name"] == "cheap"
    wrong = "000000" if code != "000000" else "111111"
    r = _check(api, started["id"], wrong)
    assert r.status_code == 200, r.text
    assert (r.json()["valid"], r.json()["status"], r.json()["attempts_left"]) == (
        False, "pending", 4,
    )  # fmt: skip
    assert _status(api, started["message_id"]) == ConversionStatus.INCORRECT_CODE
    r = _check(api, started["id"], code, method="auto")
    assert (r.json()["valid"], r.json()["status"]) == (True, "approved")
    message = api.view(started["message_id"])
    assert message["status"] == "converted"
    assert message["conversions"][-1]["method"] == "auto"
    # approved is final: the right code again is not valid again
    r = _check(api, started["id"], code)
    assert (r.json()["valid"], r.json()["status"]) == (False, "approved")
    got = api.client.get(f"{PATH}/{started['id']}", headers=api.auth())
    assert got.json()["status"] == "approved"
    assert got.json()["attempts"] == 2


def test_another_account_cannot_see_check_resend_or_cancel_it(api_any: Api, phone: Phone) -> None:
    api = api_any
    started = _start(api)
    (code,) = phone.codes
    vid = started["id"]
    other = api.auth(api.other)
    assert api.client.get(f"{PATH}/{vid}", headers=other).status_code == 404
    assert _check(api, vid, code, who=api.other).status_code == 404
    assert api.client.post(f"{PATH}/{vid}/resend", headers=other).status_code == 404
    assert api.client.post(f"{PATH}/{vid}/cancel", headers=other).status_code == 404
    assert api.client.get(f"{PATH}/{vid}").status_code == 401
    # nothing of it changed: still pending, no attempt used, the right code still works
    assert _check(api, vid, code).json()["valid"] is True


def test_wrong_codes_use_up_the_attempts_even_when_sent_at_once(api_any: Api, phone: Phone) -> None:
    api = api_any
    started = _start(api, max_attempts=3)
    (code,) = phone.codes
    wrong = [str((int(code) + k) % 10**6).zfill(6) for k in range(1, 13)]
    with ThreadPoolExecutor(6) as pool:
        answers = list(pool.map(lambda c: _check(api, started["id"], c), wrong))
    assert all(a.status_code == 200 for a in answers)
    assert not any(a.json()["valid"] for a in answers)
    after = api.client.get(f"{PATH}/{started['id']}", headers=api.auth()).json()
    assert after["status"] == "max_attempts_reached"
    assert after["attempts"] == 3  # twelve checks, three attempts
    assert _check(api, started["id"], code).json()["valid"] is False
    # every wrong code was the message's incorrect_code, the last one made it final
    message = api.view(started["message_id"])
    statuses = [c["status"] for c in message["conversions"]]
    # (two wrong codes in the same millisecond are one report: identical reports are kept once)
    assert set(statuses) == {"incorrect_code", "not_converted"}
    assert statuses.count("not_converted") == 1
    assert (message["status"], message["final"]) == ("not_converted", True)


def test_a_resend_goes_over_another_route_and_the_old_code_stops(
    api_any: Api, phone: Phone
) -> None:
    api = api_any
    add_route(api.container, "second", 0.03)
    started = _start(api)
    first_route = api.view(started["message_id"])["route"]["name"]
    r = api.client.post(f"{PATH}/{started['id']}/resend", headers=api.auth())
    assert r.status_code == 200, r.text
    resent = r.json()
    assert resent["sends"] == 2
    assert resent["message_id"] != started["message_id"]
    assert api.view(resent["message_id"])["route"]["name"] != first_route
    assert _status(api, started["message_id"]) == ConversionStatus.RESENT
    old, new = phone.codes
    if old != new:
        assert _check(api, started["id"], old).json()["valid"] is False
    assert _check(api, started["id"], new).json()["valid"] is True
    assert _status(api, resent["message_id"]) == ConversionStatus.CONVERTED


def test_cancel_and_expiry(api_any: Api, phone: Phone) -> None:
    api = api_any
    canceled = _start(api)
    r = api.client.post(f"{PATH}/{canceled['id']}/cancel", headers=api.auth())
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "canceled"
    assert _status(api, canceled["message_id"]) == ConversionStatus.CANCELED
    assert _check(api, canceled["id"], phone.codes[0]).json()["valid"] is False
    again = api.client.post(f"{PATH}/{canceled['id']}/cancel", headers=api.auth())
    assert again.status_code == 409
    # a code typed after the verification expired: received after expiration
    late = _start(api, expiry_seconds=60)
    verifier = api.container.verifier
    clock = verifier.clock
    verifier.clock = lambda: clock() + 61_000
    try:
        r = _check(api, late["id"], phone.codes[1])
    finally:
        verifier.clock = clock
    assert (r.json()["valid"], r.json()["status"]) == (False, "expired")
    assert _status(api, late["message_id"]) == ConversionStatus.RECEIVED_AFTER_EXPIRATION


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"to": "12"}, "to"),
        ({"to": TO, "channel": "voice"}, "channel"),
        ({"to": TO, "code_length": 3}, "code_length"),
        ({"to": TO, "code_length": 11}, "code_length"),
        ({"to": TO, "expiry_seconds": 10}, "expiry_seconds"),
        ({"to": TO, "max_attempts": 0}, "max_attempts"),
        ({"to": TO, "template": "no code here"}, "template"),
        ({"to": TO, "locale": "12345"}, "locale"),
        ({"to": TO, "sender": ""}, "sender"),
        ({"to": TO, "client_ref": "x" * 201}, "client_ref"),
        ({"to": TO, "code": "1234"}, None),
        ({"to": 447700900123}, None),
        ([], None),
    ],
)
def test_bad_starts_are_refused_and_send_nothing(api: Api, body: Any, field: str | None) -> None:
    before = api.counts()
    r = api.client.post(PATH, json=body, headers=api.auth())
    assert r.status_code == 422, r.text
    if field is not None:
        assert field in r.json()["error"]["details"], r.json()
    assert api.counts() == before


def test_bad_checks_are_refused(api_any: Api, phone: Phone) -> None:
    api = api_any
    started = _start(api)
    for code in ("", "12ab56", "1" * 11, "١٢٣٤٥٦"):
        r = _check(api, started["id"], code)
        assert r.status_code == 422, r.text
        assert "code" in r.json()["error"]["details"]
    assert _check(api, "not-a-uuid", "123456").status_code == 404
    assert api.client.get(f"{PATH}/{started['id']}", headers=api.auth()).json()["attempts"] == 0


def test_a_resend_takes_an_optional_body(api: Api) -> None:
    started = _start(api)
    url = f"{PATH}/{started['id']}/resend"
    r = api.client.post(
        url, json={"sender": "Acme", "template": "Acme: {code}"}, headers=api.auth()
    )
    assert r.status_code == 200, r.text
    r = api.client.post(url, json={"template": "no code"}, headers=api.auth())
    assert r.status_code == 422
    assert "template" in r.json()["error"]["details"]
    r = api.client.post(url, content=b"x", headers={**api.auth(), "Content-Type": "text/plain"})
    assert r.status_code == 415
    r = api.client.post(
        url, content=b"{", headers={**api.auth(), "Content-Type": "application/json"}
    )
    assert r.status_code == 400
    assert api.client.get(f"{PATH}/{started['id']}", headers=api.auth()).json()["sends"] == 2


# -- the fraud guard --------------------------------------------------------------------------

GUARD = "/api/v1/account/verify-guard"


def test_the_guard_blocks_countries_and_sends_nothing(api_any: Api) -> None:
    api = api_any
    assert api.client.get(GUARD, headers=api.auth()).json()["pumping"] == "block"
    r = api.client.put(GUARD, json={"blocked_countries": ["gb"]}, headers=api.auth())
    assert r.status_code == 200, r.text
    assert r.json()["blocked_countries"] == ["GB"]
    before = api.counts()
    r = api.client.post(PATH, json={"to": TO}, headers=api.auth())
    assert r.status_code == 403, r.text
    assert r.json()["error"]["code"] == "country_blocked"
    assert api.counts() == before  # no message, no decision: it cost nothing
    # another account's guard is its own
    assert _start(api, who=api.other)["country"] == "GB"
    # an allow-list: only the countries listed
    api.client.put(GUARD, json={"allowed_countries": ["US"]}, headers=api.auth())
    assert api.client.post(PATH, json={"to": TO}, headers=api.auth()).status_code == 403
    assert _start(api, to="+14155552671")["country"] == "US"
    metrics = api.client.get("/metrics").text
    assert (
        'convroute_verify_guard_total{country="GB",decision="refused",reason="country_blocked"} 2.0'
        in metrics
    )


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"blocked_countries": ["GBR"]}, "blocked_countries"),
        ({"allowed_countries": ["GB"], "blocked_countries": ["GB"]}, "blocked_countries"),
        ({"pumping": "ignore"}, "pumping"),
        ({"monitored_countries": ["G1"]}, "monitored_countries"),
        ({"blocked_countries": ["GB"] * 251}, "blocked_countries"),
        ({"favourite": 1}, None),
    ],
)
def test_a_bad_guard_is_refused_and_changes_nothing(api: Api, body: Any, field: str | None) -> None:
    api.client.put(GUARD, json={"monitored_countries": ["FR"]}, headers=api.auth())
    r = api.client.put(GUARD, json=body, headers=api.auth())
    assert r.status_code == 422, r.text
    if field is not None:
        assert field in r.json()["error"]["details"]
    assert api.client.get(GUARD, headers=api.auth()).json()["monitored_countries"] == ["FR"]


def test_the_guard_limits_the_rate_to_a_prefix(api: Api) -> None:
    guard = api.container.verifier.guard
    assert guard is not None
    guard.limits = Limits(prefix_digits=8, per_prefix_per_hour=2, per_country_per_hour=3)
    _start(api, to="+447700900001")
    _start(api, to="+447700900002")
    r = api.client.post(PATH, json={"to": "+447700900003"}, headers=api.auth())
    assert r.status_code == 429, r.text
    assert r.headers["Retry-After"] == "60"
    _start(api, to="+447400123456")  # another prefix, the same country: the third to GB
    r = api.client.post(PATH, json={"to": "+447500123456"}, headers=api.auth())
    assert r.status_code == 429  # the country's limit
    _start(api, who=api.other, to="+447700900003")  # the limits are each account's


def test_a_pumping_episode_blocks_the_prefixes_it_uses_or_holds_or_is_monitored(
    api_any: Api, phone: Phone
) -> None:
    """While the pumping watch has an episode on the destination, ``block`` refuses the
    prefixes whose verifications nobody completes (the rest of the country goes on),
    ``hold`` refuses the whole destination, ``monitor`` sends and counts; a refusal sends
    nothing."""
    api = api_any
    guard = api.container.verifier.guard
    assert guard is not None
    pumped = {"GB"}
    guard.pumping = lambda dest, now: dest.country in pumped
    api.client.put(GUARD, json={"pumping": "monitor"}, headers=api.auth())  # (to build history)
    for k in range(12):  # a premium range: nobody ever types the code
        v = _start(api, to=f"+4477009001{k:02d}")
        api.client.post(f"{PATH}/{v['id']}/cancel", headers=api.auth())
    for k in range(12):  # genuine users elsewhere in GB complete theirs
        v = _start(api, to=f"+4474001234{k:02d}")
        assert _check(api, v["id"], phone.codes[-1]).json()["valid"] is True
    api.client.put(GUARD, json={"pumping": "block"}, headers=api.auth())
    before = api.counts()
    r = api.client.post(PATH, json={"to": "+447700900199"}, headers=api.auth())
    assert r.status_code == 403, r.text
    assert r.json()["error"]["code"] == "fraud_suspected"
    assert "+44770090" in r.json()["error"]["message"]
    assert api.counts() == before
    assert _start(api, to="+447400123499")["status"] == "pending"  # the rest of GB goes on
    assert _start(api, to="+14155552671")["status"] == "pending"
    api.client.put(GUARD, json={"pumping": "hold"}, headers=api.auth())
    r = api.client.post(PATH, json={"to": "+447400123498"}, headers=api.auth())
    assert r.status_code == 403
    assert "held" in r.json()["error"]["message"]
    api.client.put(GUARD, json={"pumping": "monitor"}, headers=api.auth())
    assert _start(api, to="+447700900198")["status"] == "pending"
    metrics = api.client.get("/metrics").text
    assert 'decision="monitored",reason="pumping"' in metrics
    pumped.clear()  # the episode cleared: the prefix goes again
    r = api.client.put(GUARD, json={"pumping": "always"}, headers=api.auth())
    assert r.status_code == 200, r.text
    # ... unless the account refuses such prefixes without waiting for an episode
    assert (
        api.client.post(PATH, json={"to": "+447700900195"}, headers=api.auth()).status_code == 403
    )
    api.client.put(GUARD, json={}, headers=api.auth())
    assert _start(api, to="+447700900197")["status"] == "pending"
    # another account's history is its own: its first verification there goes
    pumped.add("GB")
    assert _start(api, who=api.other, to="+447700900196")["status"] == "pending"


def test_insights_give_the_rates_by_country_and_route_and_the_guard_refusals(
    api_any: Api, phone: Phone
) -> None:
    api = api_any
    add_route(api.container, "second", 0.03)
    for to in ("+447400123401", "+447400123402", "+447400123403"):  # GB: two of three
        v = _start(api, to=to)
        code = phone.codes[-1]
        if to.endswith(("01", "02")):
            assert _check(api, v["id"], code).json()["valid"] is True
        else:
            for wrong in range(5):
                _check(api, v["id"], str((int(code) + 1 + wrong) % 10**6).zfill(6))
    v = _start(api, to="+14155552671")  # US: canceled, left out of the rate
    api.client.post(f"{PATH}/{v['id']}/cancel", headers=api.auth())
    api.client.put(GUARD, json={"blocked_countries": ["FR"]}, headers=api.auth())
    assert api.client.post(PATH, json={"to": "+33612345678"}, headers=api.auth()).status_code == 403
    _start(api, who=api.other)  # another account's: not in this one's insights

    r = api.client.get(f"{PATH}/insights?group_by=country", headers=api.auth())
    assert r.status_code == 200, r.text
    body = r.json()
    by_country = {g["country"]: g for g in body["groups"]}
    assert set(by_country) == {"GB", "US"}
    gb = by_country["GB"]
    assert (gb["started"], gb["approved"], gb["max_attempts_reached"]) == (3, 2, 1)
    assert gb["conversion_rate"] == pytest.approx(2 / 3)
    assert gb["seconds_to_approve"] is not None
    assert by_country["US"]["canceled"] == 1
    assert by_country["US"]["conversion_rate"] is None
    assert body["guard"] == [
        {"decision": "refused", "reason": "country_blocked", "country": "FR", "count": 1}
    ]
    r = api.client.get(f"{PATH}/insights?group_by=route,channel&interval=hour", headers=api.auth())
    assert r.status_code == 200, r.text
    groups = r.json()["groups"]
    assert sum(g["started"] for g in groups) == 4
    assert all(g["channel"] == "sms" and g["period"].endswith(":00:00.000Z") for g in groups)
    assert {g["route"] for g in groups} <= {"cheap", "second"}
    for bad in ("group_by=prefix", "interval=week", "from=2026-01-01T00:00:00Z", "x=1"):
        r = api.client.get(f"{PATH}/insights?{bad}", headers=api.auth())
        assert r.status_code == 422, (bad, r.text)
    # the dashboard: an account sees its own, the operator everyone's
    mine = api.client.get("/api/v1/dashboard/verifications", headers=api.auth()).json()
    assert (mine["scope"], sum(g["started"] for g in mine["groups"])) == ("account", 4)
    api.container.settings = dataclasses.replace(api.container.settings, admin_token=ADMIN)
    everyone = api.client.get(
        "/api/v1/dashboard/verifications?group_by=country",
        headers={"Authorization": f"Bearer {ADMIN}"},
    ).json()
    assert (everyone["scope"], sum(g["started"] for g in everyone["groups"])) == ("operator", 5)


def test_verifications_train_the_router_with_no_report(api_any: Api, phone: Phone) -> None:
    """The outcomes of verifications are conversion events in the log like any report: the
    router that follows the log learns from them. One account sends only by ``cheap``, whose
    users type their code; the other only by ``second``, whose users never get it. The
    shared estimates part accordingly."""
    api = api_any
    add_route(api.container, "second", 0.03)
    guard = api.container.verifier.guard
    assert guard is not None
    guard.limits = Limits(per_prefix_per_hour=1000)  # (forty to one prefix)
    for who, route in ((api.acme, "cheap"), (api.other, "second")):
        r = api.client.put(
            "/api/v1/account/routing", json={"allow_routes": [route]}, headers=api.auth(who)
        )
        assert r.status_code == 200, r.text
    for k in range(20):
        v = _start(api, to=f"+4474001234{k:02d}")
        assert _check(api, v["id"], phone.codes[-1]).json()["valid"] is True
        v = _start(api, who=api.other, to=f"+4474001235{k:02d}")
        for wrong in range(5):  # the code never came: guesses until the attempts are gone
            guess = str((int(phone.codes[-1]) + 1 + wrong) % 10**6).zfill(6)
            _check(api, v["id"], guess, who=api.other)
    api.container.follower.catch_up()
    api.container.settings = dataclasses.replace(api.container.settings, admin_token=ADMIN)
    r = api.client.get(
        "/api/v1/routes/quality?country=GB&network=Three",
        headers={"Authorization": f"Bearer {ADMIN}"},
    )
    assert r.status_code == 200, r.text
    estimates = {x["name"]: x["estimate"] for x in r.json()["routes"]}
    assert estimates["cheap"] > 0.6 > 0.3 > estimates["second"], estimates
