"""Request ids: each request gets one, the caller's `X-Request-ID` when it is a plain token
(letters, digits, `.`, `_`, `-`; at most 128), else a new random one; it is kept in
`flask.g.request_id` and echoed in the response's `X-Request-ID`, so a dealer app and the
service's logs can name the same request."""
from __future__ import annotations

import re
import uuid

from flask import Flask, Response, g, request

HEADER = "X-Request-ID"
_TOKEN = re.compile(r"[A-Za-z0-9._-]{1,128}")


def init_app(app: Flask) -> None:
    @app.before_request
    def assign() -> None:
        given = request.headers.get(HEADER, "")
        g.request_id = given if _TOKEN.fullmatch(given) else uuid.uuid4().hex

    @app.after_request
    def echo(response: Response) -> Response:
        # a request refused before `assign` ran (a routing 404 or 405 runs it too) still
        # gets an id
        response.headers[HEADER] = g.get("request_id") or uuid.uuid4().hex
        return response
