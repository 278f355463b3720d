"""Settings: the one place that reads the environment. Each setting has a type and a default.

| variable | default | meaning |
|---|---|---|
| DATABASE_URL | sqlite:///<instance>/valuation.db | SQLAlchemy URL; PostgreSQL in production |
| MODEL_ROOT | <checkout>/models | the model registry folder |
| MODEL_NAME | demo | the model served (its CURRENT version) |
| DATA_ROOT | <checkout>/../shared/data | real datasets (benchmarks, tests) |
| LOG_LEVEL | INFO | Python logging level |
| LOG_FORMAT | json | `json` (one JSON object per line, with the request id) or `text` |
| MAX_CONTENT_LENGTH | 20971520 | request body limit in bytes (20 MiB) |
| TRAIN_THREADS | -1 | CatBoost threads for training (-1: all cores) |
| WEB_BIND | 127.0.0.1:8000 | gunicorn listen address |
| WEB_WORKERS | 2 | gunicorn worker processes (each loads the model once) |
| WEB_TIMEOUT | 60 | gunicorn worker timeout, seconds |
| BUSINESS_TIMEZONE | Asia/Shanghai | IANA zone of every business "today" (decisions, valuations) |
| VALUATION_MAX_AGE_DAYS | 30 | a stored valuation older than this cannot back a credit decision |
| VALUATION_DATE_TOLERANCE_DAYS | 3 | max days between a decision and its valuation date |
| VALUATION_COMMIT | relaxed | `relaxed`: a stored valuation survives a crash of the service but \
  the last ones may be lost in a power cut (credit decisions are always synced); `durable`: \
  every valuation is synced to disk before it is answered |
| API_KEY_SECRET | (generated in <instance>/api_key_secret) | keys the HMAC digests of API keys |
| RATE_LIMITS | dealer and underwriter 600/minute, others 120/minute | each key's budget by role, \
  "dealer=600/minute,admin=120/minute,..." (a key may have its own: `keys create --rate-limit`) |
| RATE_LIMIT_STORAGE | memory:// | where counts live: per worker, or `redis://host:6379/0` shared |
| BATCH_JOB_ROWS | 2000 | a CSV batch with more rows becomes a background job (202) |
| SPARK_MASTER | local[*] | where `monitor run --engine spark` runs (a cluster's master URL) |
| JOB_WORKERS | 1 | `valuation jobs work` processes gunicorn starts beside the web workers |
| RATE_LIMITS_ENABLED | true | `false` turns rate limiting off (benchmarks of raw speed) |
| SECRET_KEY | (generated in <instance>/session_secret) | signs console session cookies |
| CONSOLE_SESSION_MINUTES | 480 | a console session ends this long after signing in |
| CONSOLE_SECURE_COOKIE | false | `true`: the session cookie is `Secure` always (it is whenever \
  the request came over HTTPS) |
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

CHECKOUT = Path(__file__).resolve().parents[1]
DEFAULT_RATE_LIMITS = ("dealer=600/minute,underwriter=600/minute,pricing_analyst=120/minute,"
                       "pricing_approver=120/minute,admin=120/minute")


def _env(name: str, default: str) -> str:
    value = os.environ.get(name, "").strip()
    return value or default


def _flag(name: str, default: str) -> bool:
    return _env(name, default).lower() in ("1", "true", "yes", "on")


@dataclass
class Config:
    """Typed settings read once from the environment (`Config.from_env()`)."""

    DATABASE_URL: str = ""
    MODEL_ROOT: Path = CHECKOUT / "models"
    MODEL_NAME: str = "demo"
    DATA_ROOT: Path = CHECKOUT.parent / "shared" / "data"
    INSTANCE_PATH: Path = CHECKOUT / "instance"
    LOG_LEVEL: str = "INFO"
    LOG_FORMAT: str = "json"
    MAX_CONTENT_LENGTH: int = 20 * 1024 * 1024
    TRAIN_THREADS: int = -1
    WEB_BIND: str = "127.0.0.1:8000"
    WEB_WORKERS: int = 2
    WEB_TIMEOUT: int = 60
    BUSINESS_TIMEZONE: str = "Asia/Shanghai"
    VALUATION_MAX_AGE_DAYS: int = 30
    VALUATION_DATE_TOLERANCE_DAYS: int = 3
    VALUATION_COMMIT: str = "relaxed"
    API_KEY_SECRET: str = field(default="", repr=False)
    RATE_LIMITS: str = DEFAULT_RATE_LIMITS
    RATE_LIMIT_STORAGE: str = field(default="memory://", repr=False)
    RATE_LIMITS_ENABLED: bool = True
    BATCH_JOB_ROWS: int = 2000
    JOB_WORKERS: int = 1
    SPARK_MASTER: str = "local[*]"
    SECRET_KEY: str = field(default="", repr=False)
    CONSOLE_SESSION_MINUTES: int = 480
    CONSOLE_SECURE_COOKIE: bool = False
    TESTING: bool = False

    @classmethod
    def from_env(cls) -> Config:
        instance = Path(_env("INSTANCE_PATH", str(CHECKOUT / "instance")))
        return cls(
            DATABASE_URL=_env("DATABASE_URL", f"sqlite:///{instance / 'valuation.db'}"),
            MODEL_ROOT=Path(_env("MODEL_ROOT", str(CHECKOUT / "models"))),
            MODEL_NAME=_env("MODEL_NAME", "demo"),
            DATA_ROOT=Path(_env("DATA_ROOT", str(CHECKOUT.parent / "shared" / "data"))),
            INSTANCE_PATH=instance,
            LOG_LEVEL=_env("LOG_LEVEL", "INFO").upper(),
            LOG_FORMAT=_env("LOG_FORMAT", "json").lower(),
            MAX_CONTENT_LENGTH=int(_env("MAX_CONTENT_LENGTH", str(20 * 1024 * 1024))),
            TRAIN_THREADS=int(_env("TRAIN_THREADS", "-1")),
            WEB_BIND=_env("WEB_BIND", "127.0.0.1:8000"),
            WEB_WORKERS=int(_env("WEB_WORKERS", "2")),
            WEB_TIMEOUT=int(_env("WEB_TIMEOUT", "60")),
            BUSINESS_TIMEZONE=_env("BUSINESS_TIMEZONE", "Asia/Shanghai"),
            VALUATION_MAX_AGE_DAYS=int(_env("VALUATION_MAX_AGE_DAYS", "30")),
            VALUATION_DATE_TOLERANCE_DAYS=int(_env("VALUATION_DATE_TOLERANCE_DAYS", "3")),
            VALUATION_COMMIT=_env("VALUATION_COMMIT", "relaxed").lower(),
            API_KEY_SECRET=_env("API_KEY_SECRET", ""),
            RATE_LIMITS=_env("RATE_LIMITS", DEFAULT_RATE_LIMITS),
            RATE_LIMIT_STORAGE=_env("RATE_LIMIT_STORAGE", "memory://"),
            RATE_LIMITS_ENABLED=_flag("RATE_LIMITS_ENABLED", "true"),
            BATCH_JOB_ROWS=int(_env("BATCH_JOB_ROWS", "2000")),
            JOB_WORKERS=int(_env("JOB_WORKERS", "1")),
            SPARK_MASTER=_env("SPARK_MASTER", "local[*]"),
            SECRET_KEY=_env("SECRET_KEY", ""),
            CONSOLE_SESSION_MINUTES=int(_env("CONSOLE_SESSION_MINUTES", "480")),
            CONSOLE_SECURE_COOKIE=_flag("CONSOLE_SECURE_COOKIE", "false"),
        )

    def api_key_secret(self) -> bytes:
        """The API-key digest secret: the setting, else the instance's generated one."""
        from .instance import api_key_secret
        return api_key_secret(self.API_KEY_SECRET, self.INSTANCE_PATH)

    def as_flask(self) -> dict[str, Any]:
        """Upper-case settings for `app.config`."""
        return {f.name: getattr(self, f.name) for f in fields(self) if f.name.isupper()}
