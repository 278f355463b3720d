"""The business calendar: every "today" of the service (a decision date, a valuation date, the
future-date checks) is the date in one time zone, the BUSINESS_TIMEZONE setting (default
Asia/Shanghai), never the server's local date. Set once by the factory; read by every wing."""
from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

DEFAULT_ZONE = "Asia/Shanghai"
_zone = ZoneInfo(DEFAULT_ZONE)


def set_zone(name: str) -> None:
    """Use the IANA time zone `name` for every later "today" in this process."""
    global _zone
    _zone = ZoneInfo(name)


def zone() -> ZoneInfo:
    return _zone


def today(at: dt.datetime | None = None) -> dt.date:
    """The business date now (or at an aware moment `at`)."""
    return (at or dt.datetime.now(dt.UTC)).astimezone(_zone).date()
