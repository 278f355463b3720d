"""The console through Flask's test client: signing in (sessions, cookies, CSRF, expiry,
revocation), which role may open which page (a hand-written table, every console route in it),
the grid editor's effect on the stored document, and formats per locale."""
from __future__ import annotations

import html
import re
import time
from urllib.parse import parse_qs, urlsplit

import pytest

from valuation.services import keys as api_keys
from valuation.store import db

ANALYST = {"pricing_analyst"}
APPROVER = {"pricing_approver"}
PRICING = {"pricing_analyst", "pricing_approver"}
READERS = {"pricing_analyst", "pricing_approver", "admin"}
RISK = {"underwriter", "admin"}
CONSOLE = READERS | RISK
V = "/console/strategies/default/versions"
# (method, route) -> the roles that may; a hand-written copy of the rules, not the engine's
PAGES = {
    ("GET", "/console/"): CONSOLE,
    ("GET", "/console/strategies"): READERS,
    ("GET", f"{V}/1"): READERS,
    ("GET", f"{V}/1.yaml"): READERS,
    ("POST", f"{V}/1/copy"): ANALYST,
    ("GET", f"{V}/1/edit"): ANALYST,
    ("POST", f"{V}/1/edit"): ANALYST,
    ("POST", f"{V}/1/submit"): ANALYST,
    ("POST", f"{V}/1/approve"): APPROVER,
    ("POST", f"{V}/1/activate"): APPROVER,
    ("POST", "/console/strategies/default/rollback"): APPROVER,
    ("GET", "/console/strategies/default/diff"): READERS,
    ("GET", "/console/strategies/default/simulations"): PRICING,
    ("POST", "/console/strategies/default/simulations"): PRICING,
    ("GET", "/console/strategies/default/simulations/none"): PRICING,
    ("GET", "/console/strategies/default/experiment"): PRICING,
    ("POST", "/console/strategies/default/experiment"): APPROVER,
    ("GET", "/console/audit"): READERS,
    ("GET", "/console/decisions"): CONSOLE,
    ("GET", "/console/decisions/none"): CONSOLE,
    ("POST", "/console/decisions/none/replay"): CONSOLE,
    ("GET", "/console/runs"): RISK,
    ("POST", "/console/runs"): RISK,
    ("GET", "/console/runs/none"): RISK,
    ("GET", "/console/runs/none/results.csv"): RISK,
    ("GET", "/console/loans"): RISK,
    ("GET", "/console/loans/none"): RISK,
    ("GET", "/console/alerts"): RISK,
    ("POST", "/console/alerts/999/acknowledge"): RISK,
    ("GET", "/console/dealers"): RISK,
}
# open to anyone: the sign-in page, signing out, the language switch, the static files
OPEN = {"/console/signin", "/console/signout", "/console/lang/<code>",
        "/console/static/<path:filename>"}
def token(client) -> str:  # type: ignore[no-untyped-def]
    found = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/console/signin").text)
    assert found
    return found.group(1)


def form_of(page: str) -> tuple[str, dict[str, str]]:
    """The editor's ETag and its cells (path -> text), as a browser would submit them."""
    etag = re.search(r'name="etag" value="([^"]+)"', page).group(1)
    cells = re.findall(r'<input name="([^"]+)" value="([^"]*)"', page)
    return html.unescape(etag), {html.unescape(k): html.unescape(v) for k, v in cells}


def test_every_console_route_is_in_the_table(app) -> None:
    rules = {(m, r.rule) for r in app.url_map.iter_rules() if r.rule.startswith("/console")
             and r.rule not in OPEN for m in r.methods - {"HEAD", "OPTIONS"}}
    urls = app.url_map.bind("localhost")
    listed = {(m, urls.match(path, method=m, return_rule=True)[0].rule) for m, path in PAGES}
    assert rules == listed


def test_each_role_opens_exactly_its_pages(app, signed_in) -> None:
    checked = 0
    for (method, path), allowed in PAGES.items():
        for role, client in signed_in.items():
            if role in ("dealer", "approver2"):
                continue
            data = {"csrf_token": token(client), "comment": "a comment"}
            response = client.open(path, method=method, data=data if method == "POST" else None)
            if role in allowed:
                assert response.status_code not in (401, 403), (method, path, role)
                assert response.status_code < 500, (method, path, role, response.text[:500])
            else:
                assert response.status_code == 403, (method, path, role, response.status_code)
                assert "may not open this page" in response.text
            checked += 1
    assert checked == len(PAGES) * 4  # analyst, approver, admin, underwriter


def test_not_signed_in_goes_to_the_sign_in_page(app) -> None:
    client = app.test_client()
    for (method, path), _allowed in PAGES.items():
        response = client.open(path, method=method,
                               data={"csrf_token": token(client)} if method == "POST" else None)
        assert response.status_code == 302, (method, path)
        if method == "GET":  # back to the page after signing in
            location = urlsplit(response.headers["Location"])
            assert location.path == "/console/signin"
            assert parse_qs(location.query)["next"] == [f"{path}?"]
        else:  # a form is not resent: the sign-in page leads home
            assert response.headers["Location"] == "/console/signin"


def test_signing_in_and_the_session_cookie(app, role_keys) -> None:
    client = app.test_client()
    bad = client.post("/console/signin", data={"api_key": "vk_nope.nope",
                                               "csrf_token": token(client)})
    assert bad.status_code == 401 and "not valid" in bad.text
    dealer = client.post("/console/signin", data={"api_key": role_keys["dealer"],
                                                  "csrf_token": token(client)})
    assert dealer.status_code == 403 and "Dealer keys cannot sign in" in dealer.text
    no_csrf = client.post("/console/signin", data={"api_key": role_keys["pricing_analyst"]})
    assert no_csrf.status_code == 400 and "security token" in no_csrf.text
    ok = client.post("/console/signin", data={"api_key": role_keys["pricing_analyst"],
                                              "csrf_token": token(client),
                                              "next": "https://evil.example/steal"})
    assert ok.status_code == 302 and ok.headers["Location"] == "/console/"  # no open redirect
    cookie = ok.headers["Set-Cookie"]
    assert cookie.startswith("console_session=")
    for flag in ("HttpOnly", "SameSite=Lax", "Path=/console"):
        assert flag in cookie
    assert "Secure" not in cookie  # served over plain HTTP here
    assert role_keys["pricing_analyst"] not in cookie  # the key is not in the cookie
    https = app.test_client()
    # over HTTPS, Flask-WTF also wants the Referer of this site (as a browser sends it)
    secure = https.post("/console/signin", base_url="https://console.example",
                        headers={"Referer": "https://console.example/console/signin"},
                        data={"api_key": role_keys["pricing_analyst"],
                              "csrf_token": re.search(r'name="csrf_token" value="([^"]+)"',
                                                      https.get("/console/signin",
                                                                base_url="https://console.example"
                                                                ).text).group(1)})
    assert secure.status_code == 302 and "Secure" in secure.headers["Set-Cookie"]
    assert client.get("/console/strategies").status_code == 200
    assert client.post("/console/signout", data={"csrf_token": token(client)}).status_code == 302
    assert client.get("/console/strategies").status_code == 302


def test_a_session_ends_when_it_expires_or_its_key_is_revoked(app, signed_in, role_keys) -> None:
    client = signed_in["pricing_analyst"]
    assert client.get("/console/strategies").status_code == 200
    with client.session_transaction("/console/") as session:
        session["since"] = time.time() - app.config["CONSOLE_SESSION_MINUTES"] * 60 - 1
    expired = client.get("/console/strategies")
    assert expired.status_code == 302
    assert "expired" in client.get(expired.headers["Location"]).text
    other = signed_in["pricing_approver"]
    assert other.get("/console/strategies").status_code == 200
    prefix = role_keys["pricing_approver"].split(".")[0].removeprefix(api_keys.KEY_PREFIX)
    with db.session_for(app) as session, session.begin():
        assert api_keys.revoke_key(session, prefix)
    revoked = other.get("/console/strategies")
    assert revoked.status_code == 302
    assert "no longer valid" in other.get(revoked.headers["Location"]).text


def test_a_forged_session_is_refused(app, signed_in) -> None:
    client = signed_in["pricing_analyst"]
    with client.session_transaction("/console/") as session:
        session["token"] = "0" * 64
    assert client.get("/console/strategies").status_code == 302


def test_the_grid_editor_changes_exactly_the_cells_edited(app, signed_in, keys) -> None:
    analyst = signed_in["pricing_analyst"]
    created = analyst.post(f"{V}/1/copy", data={"csrf_token": token(analyst)})
    assert created.status_code == 302 and created.headers["Location"].endswith("/2/edit")
    page = analyst.get(f"{V}/2/edit").text
    etag, cells = form_of(page)
    assert cells["price_tolerance[used_nev][B][T2]"] == "0.0"
    assert cells["hard_rules[max_mileage_km]"] == "300000"
    edited = {**cells, "price_tolerance[used_nev][B][T2]": "0.015",
              "hard_rules[max_mileage_km]": "250000", "etag": etag,
              "csrf_token": token(analyst)}
    saved = analyst.post(f"{V}/2/edit", data=edited)
    assert saved.status_code == 302
    stored = app.test_client().get("/v1/strategies/default/versions/2",
                                   headers=keys["pricing_analyst"]).json["document"]
    assert stored["price_tolerance"]["used_nev"]["B"]["T2"] == 0.015
    assert stored["hard_rules"]["max_mileage_km"] == 250000
    assert isinstance(stored["hard_rules"]["max_mileage_km"], int)
    audit = app.test_client().get("/v1/strategies/default/audit",
                                  headers=keys["pricing_analyst"]).json["entries"]
    edit = [e for e in audit if e["action"] == "edit"][-1]
    assert {c["path"] for c in edit["diff"]} == {"price_tolerance[used_nev][B][T2]",
                                                 "hard_rules[max_mileage_km]"}
    # the API's validation, shown next to the cell: an LTV above the regulatory cap
    etag, cells = form_of(analyst.get(f"{V}/2/edit").text)
    refused = analyst.post(f"{V}/2/edit", data={**cells, "ltv_max[used_ice][A][T1]": "0.8",
                                                 "price_tolerance[used_nev][B][T2]": "abc",
                                                 "etag": etag, "csrf_token": token(analyst)})
    assert refused.status_code == 422
    assert re.search(r'data-path="price_tolerance\[used_nev\]\[B\]\[T2\]">\s*<input[^>]*>\s*'
                     r'<span class="error">not a number', refused.text)
    refused = analyst.post(f"{V}/2/edit", data={**cells, "ltv_max[used_ice][A][T1]": "0.8",
                                                 "etag": etag, "csrf_token": token(analyst)})
    assert refused.status_code == 422
    assert re.search(r'data-path="ltv_max\[used_ice\]\[A\]\[T1\]">\s*<input[^>]*>\s*'
                     r'<span class="error">0.8 is above the regulatory cap', refused.text)
    again = app.test_client().get("/v1/strategies/default/versions/2",
                                  headers=keys["pricing_analyst"]).json["document"]
    assert again == stored  # nothing of the refused saves was stored


def test_an_approved_version_cannot_be_edited(app, signed_in) -> None:
    analyst = signed_in["pricing_analyst"]
    response = analyst.get(f"{V}/1/edit")
    assert response.status_code == 302 and response.headers["Location"].endswith(f"{V}/1")
    page = analyst.get(response.headers["Location"]).text
    assert "only drafts can be edited" in page


@pytest.mark.parametrize(("lang", "money", "share"), [("zh", "1,234,567 元", "5.25%"),
                                                       ("en", "CNY 1,234,567", "5.25%")])
def test_money_and_ratios_per_locale(app, lang: str, money: str, share: str) -> None:
    from valuation.console import formats
    with app.test_request_context("/console/", headers={"Accept-Language": lang}):
        assert formats.money(1_234_567) == money
        assert formats.percent("0.0525") == share
        assert formats.compact_money(80_000) == ("8万" if lang == "zh" else "80k")
