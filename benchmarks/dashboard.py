"""Dashboard speed in a real browser: Debian's chromium (Playwright) loads ``/dashboard`` on
a server over a database with traffic, signs in, and times the first contentful paint and
the moment the charts are drawn with the data (the ``#updated`` stamp), over several loads.

    python -m benchmarks.dashboard                          # 1200 messages of e2e-outage
    python -m benchmarks.dashboard --database var/convroute.db --token "$ADMIN"   # e.g. the demo's
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import statistics
import tempfile
from pathlib import Path

from benchmarks.server import Server
from convroute.cli.against import Credentials, drive

TOKEN = "bench-dashboard-operator-token-0123456789"  # noqa: S105 (a local server's)
SCENARIO = Path(__file__).parents[1] / "tests" / "fixtures" / "e2e-outage.toml"


def measure(base_url: str, token: str, query: str, loads: int) -> dict[str, float]:
    from playwright.sync_api import sync_playwright

    browser_path = shutil.which("chromium")
    if browser_path is None:
        raise SystemExit("no chromium: apt-get install chromium")
    paints, drawn = [], []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=browser_path, args=["--no-sandbox"])
        for _ in range(loads):
            context = browser.new_context()
            context.add_init_script(f"sessionStorage.setItem('convroute-token', '{token}')")
            page = context.new_page()
            page.goto(f"{base_url}/dashboard?{query}")
            page.wait_for_selector("#updated[data-at]", timeout=30_000)
            paints.append(page.evaluate(
                "() => performance.getEntriesByName('first-contentful-paint')[0].startTime"
            ))  # fmt: skip
            drawn.append(page.evaluate(
                "() => Number(document.querySelector('#updated').dataset.at)"
                " - performance.timeOrigin"
            ))  # fmt: skip
            context.close()
        browser.close()
    return {
        "first_contentful_paint_ms_median": statistics.median(paints),
        "charts_drawn_ms_median": statistics.median(drawn),
        "charts_drawn_ms_max": max(drawn),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database", help="a SQLite database with traffic (else one is made)")
    parser.add_argument(
        "--token", default=TOKEN, help="the operator token of that database's server"
    )
    parser.add_argument("--query", default="country=GB&hours=24&bucket_minutes=5")
    parser.add_argument("--loads", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        if args.database:
            url = f"sqlite:///{Path(args.database).resolve()}"
        else:
            from tests.conftest import two_routes_and_an_account

            url = f"sqlite:///{Path(tmp) / 'dash.db'}"
            doc = two_routes_and_an_account(url, "bench", 6)
            fill = Server(url, env={"CONVROUTE_ADMIN_TOKEN": TOKEN,
                                    "CONVROUTE_ROUTING_PACE": "50"}).start()  # fmt: skip
            try:
                print("filling: 1200 messages of e2e-outage at 50x ...", flush=True)
                creds = Credentials.from_json({**doc, "admin_token": TOKEN})
                asyncio.run(drive(fill.base_url, SCENARIO, creds, 5, 50.0))
            finally:
                fill.stop()
        server = Server(url, env={"CONVROUTE_ADMIN_TOKEN": args.token}).start()
        try:
            figures = measure(server.base_url, args.token, args.query, args.loads)
        finally:
            server.stop()
    for name, value in figures.items():
        print(f"{name}: {value:.0f}")


if __name__ == "__main__":
    main()
