"""The reporting dashboard in a real browser: Debian's headless Chromium driven by Playwright.

The service runs on a local port (SQLite, embedded transport) with the communes' demo
reports and a few events from the other services; the test reads what a user sees.
`playwright install` cannot download browsers here: Debian's binary is launched by its path.
"""
from __future__ import annotations

import threading
import uuid

import pytest
from playwright.sync_api import sync_playwright
from werkzeug.serving import make_server

from chassis.auth import Authenticator
from chassis.service import bootstrap
from tests.conftest import TEST_SECRET, make_config
from tests.unit.test_reporting_api import establishment, review

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]


@pytest.fixture(scope="module")
def served(services, tmp_path_factory):
    from chassis.transport.embedded import EmbeddedTransport

    tmp = tmp_path_factory.mktemp("dashboard")
    transport = EmbeddedTransport(f"sqlite:///{tmp}/events.db", partitions=3)
    container = bootstrap(services["reporting"], make_config("reporting", tmp), transport)
    container.migrate()
    transport.ensure_topics(container.topics())
    container.service.demo(container)
    for _ in range(4):
        review(container, establishment(container))
    establishment(container)
    server = make_server("127.0.0.1", 0, container.create_app(), threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}", container
    server.shutdown()
    container.dispose()


@pytest.fixture(scope="module")
def browser():
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield browser
        browser.close()


def token(*roles, district=None) -> str:
    return Authenticator(TEST_SECRET, None, "lanhmanh").issue(f"browser-{uuid.uuid4().hex[:6]}", list(roles), district)


def test_the_dashboard_shows_the_indicator_table_and_draws_its_charts(served, browser):
    base, _ = served
    page = browser.new_page()
    requests_outside = []
    page.on("request", lambda r: requests_outside.append(r.url) if not r.url.startswith(base) else None)
    page.goto(f"{base}/reporting/#token={token('reporting_consumer')}&period=2020")
    page.wait_for_selector("body[data-loaded=true]", timeout=20000)

    rows = page.locator("#indicator-table tbody tr")
    assert rows.count() >= 19
    communication = page.locator("#indicator-table tr[data-indicator=communes_communication]")
    assert "Tỷ lệ xã, phường, thị trấn triển khai hoạt động truyền thông" in communication.inner_text()
    assert "Communes that ran prevention-communication activities" in communication.inner_text()
    assert "%" in communication.locator("td").nth(2).inner_text()
    healthy = page.locator("#indicator-table tr[data-indicator=communes_healthy]")
    assert "193/204" in healthy.inner_text()
    assert page.locator("#indicator-table .status").count() >= 3

    # The comparison chart is drawn by the locally served Chart.js, one bar per district.
    bars = page.evaluate("() => Chart.getChart('chart-children').data.labels.length")
    assert bars == 12
    assert page.evaluate("() => Chart.getChart('chart-trend').data.labels.length") == 12
    painted = page.evaluate("""() => { const c = document.getElementById('chart-children');
        const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
        let n = 0; for (let i = 3; i < d.length; i += 4) if (d[i] > 0) n++; return n; }""")
    assert painted > 1000
    assert requests_outside == []  # no CDN: everything from the service

    # Drill down: click Thành phố Sơn La, see its communes.
    page.locator("#children tbody tr[data-code='116']").click()
    page.wait_for_function("() => document.getElementById('unit-name').textContent === 'Thành phố Sơn La'")
    page.wait_for_function("() => Chart.getChart('chart-children').data.labels.includes('Phường Chiềng Lề')")
    assert "Phường Chiềng Lề" in page.locator("#children tbody").inner_text()
    assert "Tỉnh Sơn La" in page.locator("#breadcrumb").inner_text()
    page.close()


def test_without_a_token_the_dashboard_says_so_in_both_languages(served, browser):
    base, _ = served
    page = browser.new_page()
    page.goto(f"{base}/reporting/")
    page.evaluate("() => sessionStorage.clear()")
    page.reload()
    page.locator("#load").click()
    assert "Cần mã truy cập / An access token is needed." in page.locator("#message").inner_text()
    page.close()
