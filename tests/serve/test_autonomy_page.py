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


def test_an_adjuster_completes_a_blind_review_on_the_page(service: Service, tmp_path: Path) -> None:  # noqa: F811
    executable = chromium_path()
    sync_api = pytest.importorskip("playwright.sync_api", reason="pip install playwright (the dev extra has it)")
    approved = service.assess(service.open_claim(), 11)
    rejected = service.assess(service.open_claim(), 12)
    # What the model proposed, as the page would write it: none of it may show while the review is blind.
    secrets = {
        f"{a:,.2f}"
        for q in (approved["quote"], rejected["quote"])
        for a in [q["total"], *(li["total"] for li in q["line_items"])]
    }
    assert service.call("GET", f"/v1/review/claims/{approved['id']}", "adjuster")["blind"]
    base = str(service.http.base_url)
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=executable, args=ARGS)
        try:
            page = browser.new_page(viewport={"width": 1366, "height": 1000})

            def shown() -> None:
                text = page.inner_text("body")
                assert not [s for s in secrets if s in text], text

            page.goto(base + "/review")
            page.fill("#key", service.keys["adjuster"])
            page.click("#sign-in-form button[type=submit]")
            page.wait_for_selector("#autonomy-panel [data-step=loose]")
            page.goto(base + "/review#claim=" + approved["id"])
            page.wait_for_selector("#blind-note")
            page.wait_for_selector("canvas.photo-canvas[data-ready=true]")
            assert page.locator("table.lines tbody tr").count() == 0  # no line of the model's
            shown()
            # The adjuster's own line: a bumper replaced, 300 of parts and 150 of labour.
            page.click("#add-line")
            page.select_option("tr[data-line='0'] .line-part", "Bumper")
            page.select_option("tr[data-line='0'] .line-operation", "replace")
            page.fill("tr[data-line='0'] [data-field=parts_cost]", "300")
            page.dispatch_event("tr[data-line='0'] [data-field=parts_cost]", "change")
            page.fill("tr[data-line='0'] [data-field=labour_cost]", "150")
            page.dispatch_event("tr[data-line='0'] [data-field=labour_cost]", "change")
            assert page.input_value("#final-amount") == "450"
            page.fill("#comment", "priced from the photos")
            shown()
            page.screenshot(path=str(artifacts(tmp_path) / "blind-review.png"), full_page=True)
            page.click("#approve")
            page.wait_for_selector(".decided-approved")
            # The second claim, in Chinese: rejected with a comment.
            page.click("[data-lang=zh-CN]")
            page.wait_for_selector(".decided-approved strong:has-text('已核准')")  # re-rendered in Chinese
            page.goto(base + "/review#claim=" + rejected["id"])
            page.wait_for_selector("#blind-note")
            assert (page.text_content("#blind-note") or "").startswith("盲审")
            assert page.text_content("label[for=final-amount]") == "最终金额"
            shown()
            # Saved lines first: the audit says what they come to, never the model's amount they replaced.
            page.click("#add-line")
            page.fill("tr[data-line='0'] .line-total", "120")
            page.dispatch_event("tr[data-line='0'] .line-total", "change")
            page.click("#save-lines")
            page.wait_for_selector("#audit li[data-action='quote.edited']")
            assert page.input_value("#final-amount") == "120"
            shown()
            page.fill("#comment", "照片与申报不符")
            page.click("#reject")
            page.wait_for_selector(".decided-rejected")
        finally:
            browser.close()
    claim = service.call("GET", f"/v1/claims/{approved['id']}", "adjuster")
    assert claim["review"]["outcome"] == "approved" and claim["review"]["amount"] == 450
    assert claim["review"]["comment"] == "priced from the photos"
    lines = claim["quote"]["line_items"]
    assert claim["quote"]["source"] == "adjuster" and len(lines) == 1
    assert (lines[0]["part"], lines[0]["operation"], lines[0]["total"]) == ("Bumper", "replace", 450)
    assert service.call("GET", f"/v1/claims/{rejected['id']}", "adjuster")["review"]["outcome"] == "rejected"
    step = service.call("GET", "/v1/review/autonomy", "adjuster")["policies"][0]["steps"][0]
    assert step["graded"] == 2
