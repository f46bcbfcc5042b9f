"""Every service's API documentation renders in a real browser, offline (Swagger UI served by the
service itself), in both modes."""
from __future__ import annotations

import pytest
from playwright.sync_api import sync_playwright

from chassis.service import installed
from tests.integration.test_reporting_browser import ARGS, CHROMIUM

pytestmark = pytest.mark.infra


def test_every_service_s_swagger_ui_shows_its_operations(system):
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            page = browser.new_page()
            for name in installed():
                page.goto(system.url(f"/{name}/docs"))
                page.wait_for_selector(".opblock", timeout=20000)
                paths = page.locator(".opblock-summary-path").all_inner_texts()
                assert paths and all(path.startswith(f"/{name}/v1/") for path in paths), (name, paths)
                assert "Lành Mạnh" in page.locator(".title").inner_text()  # diacritics survive
        finally:
            browser.close()
