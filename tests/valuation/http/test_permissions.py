"""The permission matrix: every route of the app x every role, no key, a revoked, an expired
and an unknown key, against a hand-written table (README "API"). The routes come from the
app's URL map, so a new route without a row here fails the test."""
from __future__ import annotations

import datetime as dt
import re

from sqlalchemy import update

from valuation.services import keys as api_keys
from valuation.store import db
from valuation.store.tables import ApiKeyRecord, utcnow

ROLES = ("dealer", "underwriter", "pricing_analyst", "pricing_approver", "admin")
READERS = {"pricing_analyst", "pricing_approver", "admin"}
MODELS = {"pricing_analyst", "pricing_approver", "underwriter", "admin"}
S = "/v1/strategies/<name>"
V = f"{S}/versions/<int(min=1, max=2147483647):version>"
MATRIX: dict[tuple[str, str], set[str]] = {
    ("POST", "/v1/valuations"): {"dealer", "underwriter"},
    ("POST", "/v1/valuations/batch"): {"dealer", "underwriter"},
    ("GET", "/v1/valuations/<valuation_id>"): {"dealer", "underwriter", "admin"},
    ("GET", "/v1/valuation-jobs/<job_id>"): {"dealer", "underwriter", "admin"},
    ("GET", "/v1/valuation-jobs/<job_id>/results"): {"dealer", "underwriter", "admin"},
    ("GET", "/v1/models"): MODELS,
    ("GET", "/v1/models/<name>/<version>"): MODELS,
    ("POST", "/v1/credit-limits"): {"underwriter"},
    ("GET", "/v1/credit-limits/<decision_id>"): {"underwriter", "admin", "pricing_analyst",
                                                  "pricing_approver"},
    ("POST", "/v1/credit-limits/<decision_id>/replay"): {"underwriter", "admin",
                                                          "pricing_analyst", "pricing_approver"},
    ("GET", "/v1/dealers/<dealer_id>"): {"underwriter", "admin"},
    ("GET", "/v1/dealers/risk"): {"underwriter", "admin"},
    ("GET", "/v1/dealers/<dealer_id>/risk"): {"underwriter", "admin"},
    ("GET", "/v1/dealers/<dealer_id>/tier-changes"): {"underwriter", "admin"},
    ("POST", "/v1/dealers/<dealer_id>/tier-changes"): {"underwriter", "admin"},
    ("POST", "/v1/dealers/tier-changes/<int(min=1, max=2147483647):change_id>/"
             "<any(apply, reject):verb>"): {"admin"},
    ("POST", "/v1/loans"): {"underwriter", "admin"},
    ("GET", "/v1/loans/<loan_id>"): {"underwriter", "admin"},
    ("POST", "/v1/monitoring/runs"): {"underwriter", "admin"},
    ("GET", "/v1/monitoring/runs"): {"underwriter", "admin"},
    ("GET", "/v1/monitoring/runs/<run_id>"): {"underwriter", "admin"},
    ("GET", "/v1/monitoring/runs/<run_id>/results"): {"underwriter", "admin"},
    ("GET", "/v1/monitoring/alerts"): {"underwriter", "admin"},
    ("POST", "/v1/monitoring/alerts/<int(min=1, max=2147483647):alert_id>/acknowledge"):
        {"underwriter", "admin"},
    ("PUT", "/v1/dealers/<dealer_id>"): {"admin"},
    ("GET", "/v1/strategies"): READERS,
    ("GET", S): READERS,
    ("POST", f"{S}/versions"): {"pricing_analyst"},
    ("GET", V): READERS,
    ("PUT", V): {"pricing_analyst"},
    ("POST", f"{V}/submit"): {"pricing_analyst"},
    ("POST", f"{V}/approve"): {"pricing_approver"},
    ("POST", f"{V}/activate"): {"pricing_approver"},
    ("POST", f"{V}/cancel-schedule"): {"pricing_approver"},
    ("POST", f"{S}/rollback"): {"pricing_approver"},
    ("GET", f"{S}/diff"): READERS,
    ("GET", f"{S}/audit"): READERS,
    ("POST", f"{S}/simulations"): {"pricing_analyst", "pricing_approver"},
    ("GET", f"{S}/simulations/<sim_id>"): {"pricing_analyst", "pricing_approver"},
    ("GET", f"{S}/simulations/<sim_id>/changes"): {"pricing_analyst", "pricing_approver"},
    ("PUT", f"{S}/experiment"): {"pricing_approver"},
    ("DELETE", f"{S}/experiment"): {"pricing_approver"},
    ("GET", f"{S}/experiment/report"): {"pricing_analyst", "pricing_approver"},
    ("GET", f"{S}/experiments/report"): {"pricing_analyst", "pricing_approver"},
}
# open to anyone, and returning no stored data
OPEN = {"/health", "/ready", "/metrics", "/openapi.json", "/docs", "/docs/assets/<path:filename>",
        "/static/<path:filename>"}
# a value for each path variable: names and numbers that exist nowhere
SAMPLE = {"int": "999", "any": "apply", "default": "nothing"}
NAMES = {"name": "default"}


def concrete(rule: str) -> str:
    def value(match: re.Match[str]) -> str:
        converter, name = match.group(1), match.group(2)
        return NAMES.get(name, SAMPLE.get(converter or "default", "nothing"))
    return re.sub(r"<(?:(\w+)(?:\([^)]*\))?:)?(\w+)>", value, rule)


def routes(app) -> list[tuple[str, str]]:  # type: ignore[no-untyped-def]
    out = []
    for rule in app.url_map.iter_rules():
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            out.append((method, rule.rule))
    return out


def test_every_route_has_a_rule(app) -> None:
    found = routes(app)
    # the console's pages have their own table (tests/valuation/console/test_pages.py)
    unlisted = [r for r in found if r not in MATRIX and r[1] not in OPEN
                and not r[1].startswith("/console/")]
    assert unlisted == [], "a route without a permission rule: add it to MATRIX or OPEN"
    assert set(MATRIX) <= set(found)  # no stale rows either


def test_each_role_may_call_exactly_its_routes(app, client, keys) -> None:
    with db.session_for(app) as session, session.begin():
        revoked = api_keys.create_key(session, "admin", "revoked-admin", None,
                                      app.extensions["api_key_secret"])
        expired = api_keys.create_key(session, "admin", "expired-admin", None,
                                      app.extensions["api_key_secret"],
                                      expires_at=utcnow() + dt.timedelta(days=1))
    prefix = revoked.split(".")[0].removeprefix(api_keys.KEY_PREFIX)
    expired_prefix = expired.split(".")[0].removeprefix(api_keys.KEY_PREFIX)
    expiring = {"Authorization": f"Bearer {expired}"}
    assert client.get("/v1/models", headers=expiring).status_code == 200  # not yet expired
    with db.session_for(app) as session, session.begin():
        assert api_keys.revoke_key(session, prefix)
        # the expiry passes (a key cannot be made expired)
        session.execute(update(ApiKeyRecord).where(ApiKeyRecord.prefix == expired_prefix)
                        .values(expires_at=utcnow() - dt.timedelta(seconds=1)))
    assert client.get("/v1/models", headers=expiring).status_code == 401  # at once
    checked = 0
    for (method, rule), allowed in MATRIX.items():
        url = concrete(rule)
        for role in ROLES:
            status = client.open(url, method=method, headers=keys[role], json={}).status_code
            # allowed: anything but a refusal (the sample ids exist nowhere: 404, 422, ...)
            assert (status not in (401, 403)) == (role in allowed), (method, rule, role, status)
            assert status < 500, (method, rule, role, status)
            checked += 1
        for headers in ({}, {"Authorization": f"Bearer {revoked}"},
                        {"Authorization": f"Bearer {expired}"},
                        {"Authorization": "Bearer vk_nothing.atall"}):
            status = client.open(url, method=method, headers=headers, json={}).status_code
            assert status == 401, (method, rule, headers, status)
            checked += 1
    assert checked == len(MATRIX) * (len(ROLES) + 4)
