"""The adjuster's page shows the autonomy panel in Chromium: per policy and step, the same numbers as the admin
endpoint and ``autoquote autonomy status`` (one report), after real gradings made through the API."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.serve.test_autonomy import Service, service  # noqa: F401  (the fixture)
from tests.serve.test_browser import ARGS, artifacts, chromium_path

pytestmark = pytest.mark.browser


def test_the_review_page_shows_what_each_step_has_proven(service: Service, tmp_path: Path) -> None:  # noqa: F811
    executable = chromium_path()
    sync_api = pytest.importorskip("playwright.sync_api", reason="pip install playwright (the dev extra has it)")
    # Three blind reviews: two agree with the model, one pays half of it (wrong, the model overpaid).
    for seed, share in ((1, 1.0), (2, 1.0), (3, 0.5)):
        claim = service.assess(service.open_claim(), seed)
        body = {"amount": round(claim["quote"]["total"] * share, 2), "comment": "checked"}
        service.call("POST", f"/v1/claims/{claim['id']}/approve", "adjuster", json=body)
    service.assess(service.open_claim(), 4)  # one left in the queue
    admin = service.status()
    assert (admin["graded"], admin["would_settle"], admin["wrong"], admin["overpay"]) == (3, 3, 1, 1)
    assert service.call("GET", "/v1/review/autonomy", "adjuster") == service.call("GET", "/v1/admin/autonomy", "admin")
    shown = {
        "state": "shadow", "graded": "3", "would": "3", "wrong": "1 (1 / 0)", "bound": f"{100 * admin['bound']:.1f}%",
        "more": str(admin["more_needed"]),
    }
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=executable, args=ARGS)
        try:
            page = browser.new_page(viewport={"width": 1366, "height": 900})
            page.goto(str(service.http.base_url) + "/review")
            page.fill("#key", service.keys["adjuster"])
            page.click("#sign-in-form button[type=submit]")
            step = page.wait_for_selector("#autonomy-panel [data-step=loose]")
            assert step is not None
            values = step.eval_on_selector_all("dd", "dds => dds.map(d => d.textContent)")
            state = step.eval_on_selector(".au-state", "s => s.textContent")
            assert [state, *values] == list(shown.values())
            assert page.text_content("#autonomy-panel h2") == "Settling alone"
            page.screenshot(path=str(artifacts(tmp_path) / "autonomy-panel.png"), full_page=True)
            page.click("[data-lang=zh-CN]")
            page.wait_for_selector("#autonomy-panel h2:text-is('自动理赔')")
            assert page.text_content("#autonomy-panel [data-step=loose] .au-state") == "影子"
        finally:
            browser.close()
