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
