"""API keys and roles: create, list, revoke, and authenticate a `Bearer` key; salted hashes at
rest, a public prefix in logs."""
from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import secrets
from dataclasses import dataclass

from sqlalchemy import Connection, bindparam, select, update
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


def _digest(secret: str, salt: str) -> str:
    return hashlib.scrypt(secret.encode(), salt=bytes.fromhex(salt), n=2**12, r=8, p=1).hex()


def keyed_digest(key: str, server_secret: bytes) -> str:
    """HMAC-SHA256 of the whole key under the server secret: an API key is a long random token,
    not a password, so this keyed digest (microseconds) is what each request checks."""
    return hmac.new(server_secret, key.encode(), hashlib.sha256).hexdigest()


def secret_id(server_secret: bytes) -> str:
    """Names a server secret without revealing it (which secret a stored digest used)."""
    return hashlib.sha256(b"digest-key:" + server_secret).hexdigest()[:16]


def create_key(session: Session, role: str, name: str, dealer_id: str | None = None,
               server_secret: bytes | None = None, expires_at: dt.datetime | None = None
               ) -> str:
    """Store a new key (its scrypt hash and, given the server secret, its keyed digest) and
    return it; it is shown once and never again. A key with `expires_at` (aware) stops
    working at that moment in every worker (each request reads it)."""
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
    prefix = secrets.token_hex(PREFIX_LEN // 2)
    secret = secrets.token_urlsafe(32)
    salt = secrets.token_hex(16)
    key = f"{KEY_PREFIX}{prefix}.{secret}"
    session.add(ApiKeyRecord(
        prefix=prefix, salt=salt, hash=_digest(secret, salt), role=role, dealer_id=dealer_id,
        name=name, digest=keyed_digest(key, server_secret) if server_secret else None,
        digest_key=secret_id(server_secret) if server_secret else None, expires_at=expires_at))
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
    return create_key(session, old.role, old.name, old.dealer_id, server_secret)


def list_keys(session: Session) -> list[ApiKeyRecord]:
    return list(session.scalars(select(ApiKeyRecord).order_by(ApiKeyRecord.id)))


_KEYS = core(ApiKeyRecord)
# built once: a statement object SQLAlchemy has already seen skips its compile-cache key work
_LOOKUP = select(_KEYS.c.prefix, _KEYS.c.name, _KEYS.c.role, _KEYS.c.dealer_id, _KEYS.c.salt,
                 _KEYS.c.hash, _KEYS.c.digest, _KEYS.c.digest_key, _KEYS.c.revoked_at,
                 _KEYS.c.expires_at).where(_KEYS.c.prefix == bindparam("prefix"))


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
    return Principal(name=row.name, role=row.role, prefix=row.prefix, dealer_id=row.dealer_id)
