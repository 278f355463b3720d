"""The console in a real browser (Playwright driving Debian's headless Chromium) against the app
served on a loopback port: the whole maker-checker flow, a stale save, a self-approval, a form
without its CSRF token, a dealer key at sign-in, the language switch. Screenshots of the main
pages go to a temporary folder (or SCREENSHOTS=dir)."""
from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

from valuation.services import keys as api_keys
from valuation.store import db

# 0.01 in the shipped default: customer tier C's LTV (60 %) binds below the regulatory 70 %,
# so a looser tolerance raises the limit of a car declared above its valuation
CELL = "price_tolerance[used_ice][C][T1]"
LTV_CELL = "ltv_max[used_ice][A][T1]"


def application(app_id: str, declared: int) -> dict[str, Any]:
    return {"application_id": app_id,
            "customer": {"tier": "C", "monthly_income": 50000, "id": f"C-{app_id}"},
            "dealer": {"id": "D1", "tier": "T1"}, "is_new": False,
            "vehicle": {"brand": "丰田", "series": "凯美瑞", "energy_type": "petrol",
                        "new_price": 200000, "first_registration": "2022-03-01",
                        "mileage_km": 52000, "usage": "private"},
            "declared_price": declared, "down_payment": 0, "term_months": 36,
            "annual_rate": "0"}


def decide(app: Any, keys: dict[str, str], app_id: str, declared: int) -> dict[str, Any]:
    response = app.test_client().post(
        "/v1/credit-limits", json=application(app_id, declared),
        headers={"Authorization": f"Bearer {keys['underwriter']}"})
    assert response.status_code == 201, response.json
    return response.json


def sign_in(page: Any, base: str, key: str) -> None:
    page.goto(f"{base}/console/signin")
    page.fill("#api_key", key)
    page.click("#signin")


def sign_out(page: Any) -> None:
    page.click("header form button")
    page.wait_for_url("**/console/signin")


def test_the_maker_checker_flow_in_the_browser(live_app, browser, screenshots: Path) -> None:
    base, app, keys = live_app
    # past applications for the simulation: declared 10 % above the valuation, so that a
    # looser price tolerance raises the recognised price and the limit
    gap = Decimal(decide(app, keys, "PROBE", 100_000)["price_gap_pct"])
    value = int(100_000 / (1 + gap))  # the valuation behind the probe's price gap
    for i in range(6):
        decide(app, keys, f"PAST-{i}", value * 110 // 100 + 1_000 * i)
    context = browser.new_context(locale="en-US")
    page = context.new_page()

    # the analyst signs in, starts a draft from the active version, edits a tolerance cell
    sign_in(page, base, keys["pricing_analyst"])
    page.wait_for_url("**/console/strategies")
    page.screenshot(path=str(screenshots / "strategies.png"), full_page=True)
    page.goto(f"{base}/console/strategies/default/versions/1")
    page.screenshot(path=str(screenshots / "version.png"), full_page=True)
    page.click("#copy")
    page.wait_for_url("**/versions/2/edit")
    cell = page.locator(f'input[name="{CELL}"]')
    assert cell.input_value() == "0.01"
    cell.fill("0.9")  # above the 50 % bound: refused next to the cell
    page.click("#save")
    error = page.locator(f'td[data-path="{CELL}"] .error')
    assert "outside" in error.inner_text()
    assert page.locator("#invalid").is_visible()
    page.screenshot(path=str(screenshots / "edit-error.png"), full_page=True)
    page.locator(f'input[name="{CELL}"]').fill("0.05")
    page.click("#save")
    assert page.locator(".flash", has_text="Saved.").is_visible()
    assert page.locator(f'input[name="{CELL}"]').input_value() == "0.05"
    page.goto(f"{base}/console/strategies/default/versions/2")
    page.fill("#submit-form input[name=comment]", "looser tolerance for A/T1 used cars")
    page.click("#submit")
    assert page.locator("#version-state").inner_text() == "submitted"
    sign_out(page)

    # the approver sees it in the inbox, opens the diff: the changed cell is highlighted
    sign_in(page, base, keys["pricing_approver"])
    page.wait_for_url("**/console/strategies")
    inbox = page.locator("#inbox")
    assert "default" in inbox.inner_text() and "2" in inbox.inner_text()
    inbox.get_by_role("link", name="diff with active").click()
    changed = page.locator(f'td.changed[data-path="{CELL}"]')
    assert changed.count() == 2  # both sides of the diff
    assert "1 cells changed" in page.locator("#change-count").inner_text()
    assert page.locator(f'td[data-path="{LTV_CELL}"]').count() == 0  # unchanged: not shown
    page.click("#show-all")
    assert page.locator(f'td.changed[data-path="{CELL}"]').count() == 2
    assert page.locator(f'td[data-path="{LTV_CELL}"]').count() == 2  # shown, not highlighted
    assert page.locator(f'td.changed[data-path="{LTV_CELL}"]').count() == 0
    page.screenshot(path=str(screenshots / "diff.png"), full_page=True)

    # runs a simulation on the stored decisions: the charts render with data
    page.goto(f"{base}/console/strategies/default/simulations?candidate=2")
    page.click("#run-simulation")
    page.wait_for_url("**/simulations/*")
    for chart in ("chart-limits", "chart-totals", "chart-segments", "chart-tiers"):
        page.wait_for_selector(f"#{chart}[data-rendered='1'] svg")
        assert page.locator(f"#{chart} svg path").count() > 0
    assert page.locator("#summary .card strong").first.inner_text() == "7"  # applications
    changed_rows = page.locator("#changed tbody tr")
    assert changed_rows.count() == 6  # every PAST application gets a higher limit
    assert "CNY" in page.locator("#total-change").inner_text()
    page.screenshot(path=str(screenshots / "simulation.png"), full_page=True)

    # approves and activates version 2
    page.goto(f"{base}/console/strategies/default/versions/2")
    page.fill("#approve-form input[name=comment]", "reviewed the diff and the simulation")
    page.click("#approve")
    assert page.locator("#version-state").inner_text() == "approved"
    page.fill("#activate-form input[name=comment]", "go live")
    page.click("#activate")
    assert page.locator("#version-state").inner_text() == "active"
    context.close()

    # a credit decision made afterwards through the API names the new version
    after = decide(app, keys, "AFTER-1", value * 110 // 100)
    assert after["strategy"]["name"] == "default" and after["strategy"]["version"] == 2


def test_a_stale_save_says_who_changed_the_draft(live_app, browser) -> None:
    base, app, keys = live_app
    with db.session_for(app) as session, session.begin():
        other = api_keys.create_key(session, "pricing_analyst", "second-analyst")
    first = browser.new_context(locale="en-US").new_page()
    second = browser.new_context(locale="en-US").new_page()
    sign_in(first, base, keys["pricing_analyst"])
    first.goto(f"{base}/console/strategies/default/versions/1")
    first.click("#copy")
    first.wait_for_url("**/versions/2/edit")
    sign_in(second, base, other)
    second.goto(f"{base}/console/strategies/default/versions/2/edit")
    first.locator(f'input[name="{CELL}"]').fill("0.04")
    first.click("#save")
    assert first.locator(".flash", has_text="Saved.").is_visible()
    second.locator(f'input[name="{LTV_CELL}"]').fill("0.65")
    second.click("#save")
    stale = second.locator("#stale")
    assert "pricing_analyst-browser" in stale.inner_text()  # who changed it
    second.click("#reload")
    assert second.locator(f'input[name="{CELL}"]').input_value() == "0.04"
    assert second.locator(f'input[name="{LTV_CELL}"]').input_value() == "0.7"


def test_refusals_in_the_browser(live_app, browser, screenshots: Path) -> None:
    """A self-approval (not offered, and refused when forced), a form without its CSRF token,
    a dealer key at sign-in; then the language switch."""
    base, app, keys = live_app
    with db.session_for(app) as session, session.begin():
        maker = api_keys.create_key(session, "pricing_analyst", "same-person")
        checker = api_keys.create_key(session, "pricing_approver", "same-person")
    page = browser.new_context(locale="en-US").new_page()
    sign_in(page, base, maker)
    page.goto(f"{base}/console/strategies/default/versions/1")
    page.click("#copy")
    page.wait_for_url("**/versions/2/edit")
    page.goto(f"{base}/console/strategies/default/versions/2")
    page.fill("#submit-form input[name=comment]", "my own change")
    page.click("#submit")
    sign_out(page)

    sign_in(page, base, checker)
    page.wait_for_url("**/console/strategies")
    assert "Nothing awaits your approval." in page.locator("#inbox").inner_text()
    page.goto(f"{base}/console/strategies/default/versions/2")
    assert page.locator("#approve").count() == 0  # not offered
    token = page.locator("input[name=csrf_token]").first.get_attribute("value")
    digest = page.evaluate("""async ([url, token]) => {
        const body = new URLSearchParams({csrf_token: token, comment: "approve my own",
                                          hash: "sha256:whatever"});
        const r = await fetch(url, {method: "POST", body});
        return [r.status, await r.text()];
    }""", [f"{base}/console/strategies/default/versions/2/approve", token])
    assert digest[0] == 403 and "maker-checker" in digest[1]
    no_token = page.evaluate("""async (url) => {
        const r = await fetch(url, {method: "POST", body: new URLSearchParams({comment: "x"})});
        return [r.status, await r.text()];
    }""", f"{base}/console/strategies/default/versions/2/approve")
    assert no_token[0] == 400 and "security token" in no_token[1]
    sign_out(page)

    sign_in(page, base, keys["dealer"])
    assert "Dealer keys cannot sign in" in page.locator("#signin-error").inner_text()
    assert page.url.endswith("/console/signin")

    page.click("#lang-zh")
    assert page.locator("h1").inner_text() == "登录"
    sign_in(page, base, keys["pricing_approver"])
    page.wait_for_url("**/console/strategies")
    assert page.locator("h1").inner_text() == "策略"
    assert "待我审批" in page.locator("#inbox").inner_text()
    page.goto(f"{base}/console/strategies/default/versions/1")
    assert page.locator("#grid-price_tolerance h3").inner_text().startswith("车价容差")
    page.set_viewport_size({"width": 1280, "height": 900})
    page.screenshot(path=str(screenshots / "strategy-grid-zh.png"))
    page.click("#lang-en")
    assert page.locator("#grid-price_tolerance h3").inner_text().startswith("Price tolerance")


def test_a_chinese_browser_gets_chinese_pages_and_yuan(live_app, browser,
                                                       screenshots: Path) -> None:
    base, app, keys = live_app
    value = decide(app, keys, "ZH-1", 100_000)
    page = browser.new_context(locale="zh-CN").new_page()
    page.goto(f"{base}/console/signin")
    assert page.locator("h1").inner_text() == "登录"
    sign_in(page, base, keys["underwriter"])
    page.goto(f"{base}/console/decisions?q=ZH-1")
    page.wait_for_selector("#chart-waterfall[data-rendered='1'] svg")
    final = page.locator("#final-limit").inner_text()
    assert final == f"{value['final_limit']:,} 元"
    page.screenshot(path=str(screenshots / "decision-zh.png"), full_page=True)
    page.click("#replay")
    assert "结果一致" in page.locator("#replayed").inner_text()
