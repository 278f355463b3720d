"""API keys and roles: create, list, rotate, revoke, and authenticate a `Bearer` key; salted
hashes at rest, a public prefix in logs; the keys a worker recently checked (`RecentKeys`)."""
from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import secrets
import threading
import time
from dataclasses import dataclass

from limits import parse as parse_limit
from sqlalchemy import Connection, Row, bindparam, select, update
from sqlalchemy.orm import Session

from ..errors import Unauthorized, ValuationError
from ..store.tables import ApiKeyRecord, DealerRecord, aware, core, utcnow

ROLES = ("dealer", "underwriter", "pricing_analyst", "pricing_approver", "admin")
PREFIX_LEN = 8
KEY_PREFIX = "vk_"


@dataclass(frozen=True)
class Principal:
    """Who is calling: the key's name is the actor recorded in audit trails."""

    name: str
    role: str
    prefix: str
    dealer_id: str | None
    rate_limit: str | None = None  # the key's own limit; None: its role's
    expires_at: dt.datetime | None = None


def _digest(secret: str, salt: str) -> str:
    return hashlib.scrypt(secret.encode(), salt=bytes.fromhex(salt), n=2**12, r=8, p=1).hex()


def keyed_digest(key: str, server_secret: bytes) -> str:
    """HMAC-SHA256 of the whole key under the server secret: an API key is a long random token,
    not a password, so this keyed digest (microseconds) is what each request checks."""
    return hmac.new(server_secret, key.encode(), hashlib.sha256).hexdigest()


def secret_id(server_secret: bytes) -> str:
    """Names a server secret without revealing it (which secret a stored digest used)."""
    return hashlib.sha256(b"digest-key:" + server_secret).hexdigest()[:16]


def check_rate_limit(text: str) -> str:
    """A rate limit as Flask-Limiter writes them ("100/minute", "10/second;500/hour")."""
    try:
        for part in text.split(";"):
            parse_limit(part)
    except ValueError as exc:
        raise ValuationError(f"not a rate limit: {text!r} (write e.g. 100/minute)") from exc
    return text.strip()


def create_key(session: Session, role: str, name: str, dealer_id: str | None = None,
               server_secret: bytes | None = None, expires_at: dt.datetime | None = None,
               rate_limit: str | None = None) -> str:
    """Store a new key (its scrypt hash and, given the server secret, its keyed digest) and
    return it; it is shown once and never again. A key with `expires_at` (aware) stops
    working at that moment in every worker (each request reads it); `rate_limit` replaces
    its role's limit."""
    if expires_at is not None and (expires_at.tzinfo is None or expires_at <= utcnow()):
        raise ValuationError("a key's expiry must be a time zone-aware moment in the future")
    if role not in ROLES:
        raise ValuationError(f"unknown role {role!r}; choose from {', '.join(ROLES)}")
    if not name.strip() or name.strip().endswith("-key"):
        raise ValuationError("name the person who holds the key (--name): maker-checker tells "
                             "people apart by it")
    if role == "dealer" and not dealer_id:
        raise ValuationError("a dealer key must be bound to a dealer (--dealer ID)")
    if role != "dealer" and dealer_id:
        raise ValuationError("only dealer keys are bound to a dealer")
    if dealer_id and session.get(DealerRecord, dealer_id) is None:
        session.add(DealerRecord(id=dealer_id, name=""))
        session.flush()  # the dealer row must exist before the key that refers to it
    if rate_limit is not None:
        rate_limit = check_rate_limit(rate_limit)
    prefix = secrets.token_hex(PREFIX_LEN // 2)
    secret = secrets.token_urlsafe(32)
    salt = secrets.token_hex(16)
    key = f"{KEY_PREFIX}{prefix}.{secret}"
    session.add(ApiKeyRecord(
        prefix=prefix, salt=salt, hash=_digest(secret, salt), role=role, dealer_id=dealer_id,
        name=name, digest=keyed_digest(key, server_secret) if server_secret else None,
        digest_key=secret_id(server_secret) if server_secret else None, expires_at=expires_at,
        rate_limit=rate_limit))
    return key


def revoke_key(session: Session, prefix: str) -> bool:
    record = session.scalar(select(ApiKeyRecord).where(ApiKeyRecord.prefix == prefix))
    if record is None or record.revoked_at is not None:
        return False
    record.revoked_at = utcnow()
    return True


def rotate_key(session: Session, prefix: str, grace: dt.timedelta,
               server_secret: bytes | None = None) -> str:
    """A new key for the holder of the active key `prefix` (same role, dealer and name); the
    old key keeps working for `grace`, then expires (or at its own earlier expiry). Returns
    the new key, shown once."""
    old = session.scalar(select(ApiKeyRecord).where(ApiKeyRecord.prefix == prefix))
    now = utcnow()
    if old is None or old.revoked_at is not None or (
            old.expires_at is not None and aware(old.expires_at) <= now):
        raise ValuationError(f"no active key with prefix {prefix}")
    if grace < dt.timedelta(0):
        raise ValuationError("the grace period cannot be negative")
    end = now + grace
    old.expires_at = min(aware(old.expires_at), end) if old.expires_at is not None else end
    return create_key(session, old.role, old.name, old.dealer_id, server_secret,
                      rate_limit=old.rate_limit)


def list_keys(session: Session) -> list[ApiKeyRecord]:
    return list(session.scalars(select(ApiKeyRecord).order_by(ApiKeyRecord.id)))


_KEYS = core(ApiKeyRecord)
# built once: a statement object SQLAlchemy has already seen skips its compile-cache key work
_LOOKUP = select(_KEYS.c.prefix, _KEYS.c.name, _KEYS.c.role, _KEYS.c.dealer_id, _KEYS.c.salt,
                 _KEYS.c.hash, _KEYS.c.digest, _KEYS.c.digest_key, _KEYS.c.revoked_at,
                 _KEYS.c.expires_at, _KEYS.c.rate_limit).where(_KEYS.c.prefix == bindparam("prefix"))


def authenticate(conn: Session | Connection, header: str | None, server_secret: bytes
                 ) -> Principal:
    """The principal of an `Authorization: Bearer` header, or 401. The key is checked by its
    keyed digest (one Core query, no ORM: every request pays it); a key without a digest under
    this secret (created before digests, or under another secret) is checked once against its
    scrypt hash and then gets one (the caller commits)."""
    if not header or not header.startswith("Bearer "):
        raise Unauthorized("missing API key: send Authorization: Bearer <key>")
    key = header.removeprefix("Bearer ").strip()
    prefix, _, secret = key.removeprefix(KEY_PREFIX).partition(".")
    row = conn.execute(_LOOKUP, {"prefix": prefix}).first()
    if row is None or row.revoked_at is not None or not secret:
        raise Unauthorized("invalid or revoked API key")
    if row.expires_at is not None and aware(row.expires_at) <= utcnow():
        raise Unauthorized("expired API key")
    digest, current = keyed_digest(key, server_secret), secret_id(server_secret)
    if row.digest is not None and row.digest_key == current:
        valid = hmac.compare_digest(row.digest, digest)
    else:
        valid = hmac.compare_digest(row.hash, _digest(secret, row.salt))
        if valid:
            conn.execute(update(_KEYS).where(_KEYS.c.prefix == prefix)
                         .values(digest=digest, digest_key=current))
    if not valid:
        raise Unauthorized("invalid or revoked API key")
    return _principal(row)


def _principal(row: Row) -> Principal:
    return Principal(name=row.name, role=row.role, prefix=row.prefix, dealer_id=row.dealer_id,
                     rate_limit=row.rate_limit,
                     expires_at=aware(row.expires_at) if row.expires_at is not None else None)


def session_token(principal_digest: str, server_secret: bytes) -> str:
    """What a console session cookie holds for its key: an HMAC of the key's stored digest (never
    the key, nor the digest the database holds), so that a cookie is checked against the key's
    current row on every request."""
    return hmac.new(server_secret, b"console-session:" + principal_digest.encode(),
                    hashlib.sha256).hexdigest()


def sign_in(conn: Session | Connection, key: str, server_secret: bytes
            ) -> tuple[Principal, str]:
    """A pasted API key checked as a request's would be: its principal and the session token
    (`session_token`) the console keeps; 401 for an invalid, revoked or expired key."""
    principal = authenticate(conn, f"Bearer {key.strip()}", server_secret)
    return principal, session_token(keyed_digest(key.strip(), server_secret), server_secret)


def session_principal(conn: Session | Connection, prefix: str, token: str,
                      server_secret: bytes) -> Principal:
    """The principal of a console session (`sign_in`'s prefix and token), or 401: a key revoked,
    expired or re-issued since signing in ends its sessions at the next request."""
    row = conn.execute(_LOOKUP, {"prefix": prefix}).first()
    if row is None or row.revoked_at is not None or row.digest is None \
            or row.digest_key != secret_id(server_secret):
        raise Unauthorized("the session's API key is no longer valid; sign in again")
    if row.expires_at is not None and aware(row.expires_at) <= utcnow():
        raise Unauthorized("the session's API key has expired; sign in again")
    if not hmac.compare_digest(session_token(row.digest, server_secret), token):
        raise Unauthorized("invalid session; sign in again")
    return _principal(row)


_TOUCH = update(_KEYS).where(_KEYS.c.prefix == bindparam("key_prefix")).values(
    last_used_at=bindparam("moment"))


def touch(conn: Session | Connection, prefix: str) -> None:
    """Record that the key `prefix` was used now (`keys list` shows it)."""
    conn.execute(_TOUCH, {"key_prefix": prefix, "moment": utcnow()})


class RecentKeys:
    """The keys one worker checked against the database lately, by keyed digest (never the
    key itself).

    - `due(prefix)`: its last use is worth writing (at most once per `touch_every` seconds
      per key and worker, so a busy key does not write on every request).
    - `recall(digest)`: the principal of a key the database accepted within `grace` seconds,
      for when the database cannot be reached: revoking a key is a database write, so none
      can have been revoked through this database meanwhile; expiry is still checked.
    """

    def __init__(self, grace: float = 300.0, touch_every: float = 60.0) -> None:
        self.grace, self.touch_every = grace, touch_every
        self._seen: dict[str, tuple[Principal, float]] = {}
        self._touched: dict[str, float] = {}
        self._lock = threading.Lock()

    def due(self, prefix: str) -> bool:
        now = time.monotonic()
        with self._lock:
            if now - self._touched.get(prefix, -self.touch_every) < self.touch_every:
                return False
            self._touched[prefix] = now
            return True

    def remember(self, digest: str, principal: Principal) -> None:
        with self._lock:
            self._seen[digest] = (principal, time.monotonic())

    def recall(self, digest: str) -> Principal | None:
        with self._lock:
            principal, seen = self._seen.get(digest, (None, 0.0))
        if principal is None or time.monotonic() - seen > self.grace:
            return None
        if principal.expires_at is not None and principal.expires_at <= utcnow():
            return None
        return principal
