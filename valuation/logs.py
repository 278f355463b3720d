"""Logging: one line per record on stderr, JSON by default (python-json-logger) with the
request id of the request it belongs to (`flask.g.request_id`, set by `http.request_ids`;
null outside a request), or plain text with LOG_FORMAT=text. Nothing logs API keys, incomes
or VINs: errors log the exception, never the request body or headers."""
from __future__ import annotations

import logging
import sys
from typing import IO

from flask import g, has_request_context
from pythonjsonlogger.json import JsonFormatter

FIELDS = ("asctime", "levelname", "name", "message", "request_id")
TEXT = "%(asctime)s %(levelname)s %(name)s [%(request_id)s]: %(message)s"


class RequestId(logging.Filter):
    """Adds `request_id` to every record: the current request's, else None."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = g.get("request_id") if has_request_context() else None
        return True


def handler(stream: IO[str], fmt: str = "json") -> logging.Handler:
    """A stream handler writing records as JSON lines (or text) with their request id."""
    out = logging.StreamHandler(stream)
    out.addFilter(RequestId())
    if fmt == "text":
        out.setFormatter(logging.Formatter(TEXT))
    else:
        out.setFormatter(JsonFormatter(list(FIELDS), rename_fields={
            "asctime": "time", "levelname": "level", "name": "logger"}))
    return out


def configure(level: str, fmt: str) -> None:
    """The root logger's one handler (replaced, not added, when an app is created again)."""
    root = logging.getLogger()
    for old in [h for h in root.handlers if getattr(h, "valuation", False)]:
        root.removeHandler(old)
    new = handler(sys.stderr, fmt)
    new.valuation = True  # type: ignore[attr-defined]
    root.addHandler(new)
    root.setLevel(level)
    # Alembic announces its plugins at INFO whenever the migrations are read (each worker's
    # start): keep that to DEBUG runs
    logging.getLogger("alembic").setLevel(level if level == "DEBUG" else "WARNING")
