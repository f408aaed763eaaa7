"""The pages in headless Chromium: uvicorn on a loopback port with a real ledger (SQLite),
log in through the form, visit every page through the navigation, download a report, log
out; a full-page screenshot of the dashboard goes to test-artifacts/dashboard.png.

Without /usr/bin/chromium the test is skipped, or fails when SEQUESTRA_REQUIRE_BROWSER=1
(as `make test` sets after scripts/ensure-chromium has installed it)."""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Final

import pytest
import uvicorn

from sequestra.service.app import create_app
from sequestra.service.web.figures import money
from tests.composed import APPLICATION, REPORTS
from tests.custody.conftest import CASE, Custody, custody  # noqa: F401
from tests.pricing.test_run import valuer_key  # noqa: F401
from tests.web.conftest import SALE, World, web_world  # noqa: F401

CHROMIUM: Final = Path("/usr/bin/chromium")
CHROMIUM_ARGS: Final = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
ARTIFACTS: Final = Path(__file__).resolve().parents[2] / "test-artifacts"
SERVER_START_S_MAX: Final = 20.0
PAGE_TIMEOUT_MS: Final = 20_000
NAVIGATION: Final = (
    ("Cases", "/cases", "Cases"),
    ("Holdings", "/holdings", "Holdings"),
    ("Valuations", "/valuations", "Valuations"),
    ("Exposure", "/exposure", "State Fund exposure"),
    ("Sales", "/sales", "Sales"),
    ("Audit", "/audit", "Audit status"),
    ("Dashboard", "/", "Dashboard"),
)


def _require_chromium() -> None:
    if CHROMIUM.exists():
        return
    message = f"{CHROMIUM} is missing (scripts/ensure-chromium installs it)"
    if os.environ.get("SEQUESTRA_REQUIRE_BROWSER") == "1":
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture
def database_url(tmp_path: Path) -> str:
    """SQLite only: the pages' figures are checked on both databases in test_pages."""
    return f"sqlite:///{tmp_path / 'ledger.db'}"


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@pytest.fixture
def server(web_world: World) -> Iterator[str]:  # noqa: F811
    port = _free_port()
    config = uvicorn.Config(
        create_app(web_world.engine, APPLICATION),
        host="127.0.0.1",
        port=port,
        log_level="warning",
        access_log=False,
        lifespan="on",
    )
    running = uvicorn.Server(config)
    thread = threading.Thread(target=running.run, name="uvicorn", daemon=True)
    thread.start()
    deadline = time.monotonic() + SERVER_START_S_MAX
    while not running.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError(f"uvicorn did not start on port {port}")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        running.should_exit = True
        thread.join(SERVER_START_S_MAX)


def test_a_person_logs_in_reads_every_page_and_downloads_a_report(
    server: str,
    web_world: World,  # noqa: F811
    tmp_path: Path,
) -> None:
    _require_chromium()
    from playwright.sync_api import expect, sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            context = browser.new_context(
                accept_downloads=True, viewport={"width": 1280, "height": 900}
            )
            context.set_default_timeout(PAGE_TIMEOUT_MS)
            page = context.new_page()
            page.goto(server + "/cases")
            assert page.url == server + "/login"
            page.fill("#token", "0" * 64)
            page.click("button[type=submit]")
            expect(page.locator(".error")).to_contain_text("unknown, revoked or malformed")

            page.fill("#token", web_world.tokens["auditor"])
            page.click("button[type=submit]")
            page.wait_for_url(server + "/")
            expect(page.locator("h1")).to_have_text("Dashboard")
            latest = web_world.valuations[-1]
            expect(page.locator(".cards")).to_contain_text(money(latest.total_usd))
            expect(page.locator(".cards")).to_contain_text(money(latest.total_kzt))
            assert page.locator("svg.chart").count() == 3
            cookie = next(c for c in context.cookies() if c["name"] == "sequestra_session")
            assert cookie["httpOnly"] and cookie["sameSite"] == "Strict"
            ARTIFACTS.mkdir(exist_ok=True)
            page.screenshot(path=str(ARTIFACTS / "dashboard.png"), full_page=True)

            for link, path, heading in NAVIGATION:
                page.click(f"header nav >> text={link}")
                page.wait_for_url(server + path)
                expect(page.locator("h1")).to_have_text(heading)
                expect(page.locator(f'header nav a[href="{path}"]')).to_have_attribute(
                    "aria-current", "page"
                )

            page.goto(server + "/cases")
            page.click(f"text={CASE}")
            expect(page.locator("h1")).to_have_text(f"Case {CASE}")
            page.goto(server + "/sales")
            page.click(f"table >> text={SALE}")
            expect(page.locator("h1")).to_have_text(f"Sale {SALE}")
            page.goto(server + "/audit")
            page.click("text=Verify the ledger now")
            expect(page.locator("main")).to_contain_text("Verification")

            page.goto(server + "/valuations")
            with page.expect_download() as info:
                page.click("p.downloads >> text=CSV")
            download = info.value
            saved = tmp_path / download.suggested_filename
            download.save_as(saved)
            expected = REPORTS.render(web_world.engine, "valuation", "csv")
            assert download.suggested_filename == expected.filename
            assert saved.read_bytes() == expected.data

            page.goto(server + "/no/such/page")
            expect(page.locator("h1")).to_have_text("Not Found")
            page.click("text=Log out")
            page.wait_for_url(server + "/login")
            page.goto(server + "/")
            assert page.url == server + "/login"
        finally:
            browser.close()
