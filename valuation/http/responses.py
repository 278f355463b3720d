"""JSON responses sent as built: a stored body byte for byte, or data dumped once."""
from __future__ import annotations

from typing import Any

from flask import Response, json


def json_response(data: Any, status: int = 200, **headers: str) -> Response:
    """A JSON response from text (sent as is, e.g. a stored body) or from data."""
    text = data if isinstance(data, str) else json.dumps(data, ensure_ascii=False)
    return Response(text, status=status, mimetype="application/json", headers=headers)
