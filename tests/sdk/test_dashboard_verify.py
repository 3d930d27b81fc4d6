"""The dashboard's Verify section in a real browser (Debian's chromium, driven by Playwright)
over the in-process HTTPS server, whose codes' randomness the test holds (what the user's
phone would show): what the account's verifications came to and what the guard refused."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

import pytest

from tests.sdk.conftest import Served
from tests.test_dashboard_browser import ARTIFACTS, chromium

if TYPE_CHECKING:
    from playwright.sync_api import Page


@contextmanager
def signed_in(served: Served, token: str) -> Iterator[Page]:
    """The dashboard in chromium, signed in with ``token`` (the test server's certificate is
    its own CA's: chromium is told to accept it)."""
    from playwright.sync_api import sync_playwright

    browser_path = chromium()
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=browser_path, args=["--no-sandbox", "--ignore-certificate-errors"]
        )
        page = browser.new_page(viewport={"width": 1280, "height": 1600})
        try:
            page.goto(f"{served.base_url}/dashboard?hours=1")
            page.fill("#token", token)
            page.click("#signin button")
            yield page
        finally:
            browser.close()


@pytest.mark.slow
def test_the_dashboard_shows_what_verifications_came_to(served: Served) -> None:
    """The Verify section: per country and route, the verifications started, approved and
    their rate, and what the fraud guard refused, as the account that made them sees it."""
    import random
    import ssl

    import httpx

    rng, codes = random.Random(3), []

    def draw(n: int) -> int:
        value = rng.randrange(n)
        codes.append(str(value).zfill(len(str(n)) - 1))
        return value

    served.container.verifier.randbelow = draw
    token = served.acme.issued_shown("native")["token"]
    headers = {"Authorization": f"Bearer {token}"}
    trusted = ssl.create_default_context(cafile=str(served.ca_path))
    with httpx.Client(base_url=served.base_url, verify=trusted, headers=headers) as c:
        for k in range(3):
            body = {"to": f"+44740012340{k}", "max_attempts": 1}
            v = c.post("/api/v1/verifications", json=body).json()
            # two typed right; the third wrong, its only attempt
            code = codes[-1] if k < 2 else "0" * 6 if codes[-1] != "0" * 6 else "1" * 6
            c.post(f"/api/v1/verifications/{v['id']}/check", json={"code": code})
        c.put("/api/v1/account/verify-guard", json={"blocked_countries": ["FR"]})
        assert c.post("/api/v1/verifications", json={"to": "+33612345678"}).status_code == 403
    with signed_in(served, token) as page:
        page.wait_for_selector("#verify-by-country tbody tr")
        gb = page.locator("#verify-by-country tbody tr").first.locator("td").all_inner_texts()
        assert gb[:6] == ["GB", "3", "2", "66.7 %", "0", "1"], gb
        assert page.locator("#verify-by-route tbody tr td").first.inner_text() == "cheap"
        guard = page.locator("#verify-guard tbody tr td").all_inner_texts()
        assert guard == ["refused", "country_blocked", "FR", "1"], guard
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        page.locator("#verify").screenshot(path=str(ARTIFACTS / "dashboard-verify.png"))


@pytest.mark.slow
def test_an_account_sets_its_routing_on_the_dashboard(served: Served) -> None:
    """The account view shows the account's own routing and saves it (the operator's view
    has no such form); a refused change says why and changes nothing."""
    token = served.acme.issued_shown("native")["token"]
    with signed_in(served, token) as page:
        page.wait_for_selector("#account-routing:not([hidden])")
        assert page.input_value("#goal") == ""
        page.select_option("#goal", "value")
        page.fill("#lambda", "20")
        page.fill("#allow", "cheap")
        page.click("#routing-form button")
        page.wait_for_selector("#routing-saved[data-ok='true']")
        page.fill("#lambda", "")  # value needs its lambda: refused, nothing changes
        page.click("#routing-form button")
        page.wait_for_selector("#routing-saved[data-ok='false']")
        assert "lambda" in page.inner_text("#routing-saved")
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        page.locator("#account-routing").screenshot(path=str(ARTIFACTS / "dashboard-routing.png"))
    account = served.container.store.account_by_name(served.acme.account.id)
    assert account is not None
    routing = account.routing
    assert (routing.goal, routing.lam) == ("value", 20.0)
    assert len(routing.allow) == 1
