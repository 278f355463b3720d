"""Log lines: JSON with the request id of their request, and no API key."""
from __future__ import annotations

import io
import json
import logging

from valuation import logs


def test_a_request_logs_json_with_its_id_and_never_the_key(app, keys) -> None:
    @app.get("/boom")
    def boom() -> str:  # a route that fails, so that the request logs
        raise RuntimeError("boom")

    stream, text = io.StringIO(), io.StringIO()
    handlers = [logs.handler(stream), logs.handler(text, "text")]
    root = logging.getLogger()
    for handler in handlers:
        root.addHandler(handler)
    try:
        headers = {**keys["underwriter"], "X-Request-ID": "req-9"}
        response = app.test_client().get("/boom", headers=headers)
        logging.getLogger("valuation.test").warning("outside any request")
    finally:
        for handler in handlers:
            root.removeHandler(handler)
    assert response.status_code == 500 and response.json["message"] == "internal error"
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    failed = [line for line in lines if line["message"] == "unhandled error"]
    assert len(failed) == 1
    assert failed[0]["request_id"] == "req-9" and failed[0]["level"] == "ERROR"
    assert failed[0]["logger"] == "valuation.errors" and "RuntimeError: boom" in failed[0]["exc_info"]
    assert [line["request_id"] for line in lines if line["message"] == "outside any request"] == [None]
    key = keys["underwriter"]["Authorization"].removeprefix("Bearer ")
    assert key not in stream.getvalue() and key not in text.getvalue()
    assert "[req-9]: unhandled error" in text.getvalue()


def test_no_key_income_or_vin_reaches_the_log_even_at_debug(app, keys) -> None:
    """Mixed traffic at DEBUG level (every library's debug lines included), the log searched."""
    from .http.test_credit import APPLICATION, CAR

    vin, income = "LSVAU2180N2183294", 34567
    stream = io.StringIO()
    handler = logs.handler(stream)
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    client = app.test_client()
    try:
        car = dict(CAR, vin=vin)
        assert client.post("/v1/valuations", json=car, headers=keys["dealer"]).status_code == 201
        application = dict(APPLICATION, vehicle=dict(CAR),
                           customer=dict(APPLICATION["customer"], monthly_income=income))
        assert client.post("/v1/credit-limits", json=application,
                           headers=keys["underwriter"]).status_code == 201
        bad = dict(application, application_id="APP-2", term_months=-1)
        assert client.post("/v1/credit-limits", json=bad,
                           headers=keys["underwriter"]).status_code == 422
        assert client.post("/v1/valuations/batch", json={"vehicles": [car, {"vin": vin}]},
                           headers=keys["dealer"]).status_code == 200
        wrong = {"Authorization": keys["dealer"]["Authorization"][:-2] + "xx"}
        assert client.post("/v1/valuations", json=car, headers=wrong).status_code == 401
    finally:
        root.removeHandler(handler)
        root.setLevel(level)
    text = stream.getvalue()
    refusals = [json.loads(line)["message"] for line in text.splitlines()
                if json.loads(line)["message"].startswith("refused")]
    prefix = keys["dealer"]["Authorization"].split()[1].split(".")[0]
    under = keys["underwriter"]["Authorization"].split()[1].split(".")[0]
    assert refusals == [
        "refused 422 POST /v1/credit-limits: The request was well-formed but was unable to be "
        f"followed due to semantic errors. (fields json.term_months; key {under})",
        f"refused 401 POST /v1/valuations: invalid or revoked API key (fields none; key "
        f"{prefix})"], refusals
    for secret in [h["Authorization"].removeprefix("Bearer ") for h in keys.values()]:
        assert secret not in text and secret.split(".")[1] not in text
    assert vin not in text and vin[-8:] not in text
    assert str(income) not in text
