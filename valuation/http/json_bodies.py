"""JSON request bodies: text that cannot be stored is refused at the edge (422), not in the
database (a 500). JSON may escape a lone UTF-16 surrogate (`"\\ud800"`), which decodes to a
Python string that no UTF-8 database column, log line or response can hold."""
from __future__ import annotations

import json
import re
from typing import Any

from flask import Flask, request

from ..errors import InvalidInput

# an escaped surrogate anywhere in the raw body: only then is the parsed body walked
_ESCAPED_SURROGATE = re.compile(rb"\\u[dD][89a-fA-F]")


def _lone_surrogate(value: Any) -> bool:
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return True
        return False
    if isinstance(value, dict):
        return any(_lone_surrogate(k) or _lone_surrogate(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_lone_surrogate(v) for v in value)
    return False


def init_app(app: Flask) -> None:
    @app.before_request
    def refuse_unstorable_text() -> None:
        if not request.is_json:
            return
        raw = request.get_data(cache=True)
        if not _ESCAPED_SURROGATE.search(raw):
            return
        try:
            body = json.loads(raw)
        except ValueError:
            return  # not JSON: the view's own parsing answers
        if _lone_surrogate(body):
            raise InvalidInput("the body holds text that is not valid Unicode (a lone "
                               "surrogate escape such as \\ud800)",
                               errors={"json": {"_schema": ["invalid Unicode text"]}})
