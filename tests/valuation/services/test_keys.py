"""API keys: checked by a keyed digest (no password hash per request), old keys upgraded once,
revocation at once."""
import pytest

from valuation.errors import Unauthorized
from valuation.services import keys
from valuation.store import db
from valuation.store.tables import ApiKeyRecord

SECRET, OTHER = b"server-secret-one", b"server-secret-two"


@pytest.fixture
def no_scrypt(monkeypatch):
    calls = []
    real = keys._digest

    def counted(secret: str, salt: str) -> str:
        calls.append(salt)
        return real(secret, salt)

    monkeypatch.setattr(keys, "_digest", counted)
    return calls


def test_a_key_with_a_digest_is_checked_without_scrypt(app, no_scrypt) -> None:
    with db.session_for(app) as session, session.begin():
        key = keys.create_key(session, "underwriter", "under-one", None, SECRET)
    no_scrypt.clear()
    with db.session_for(app) as session, session.begin():
        who = keys.authenticate(session, f"Bearer {key}", SECRET)
        assert (who.name, who.role) == ("under-one", "underwriter")
        with pytest.raises(Unauthorized):
            keys.authenticate(session, f"Bearer {key[:-1]}x", SECRET)
    assert no_scrypt == []


def test_an_old_key_is_checked_once_by_scrypt_then_by_digest(app, no_scrypt) -> None:
    with db.session_for(app) as session, session.begin():
        key = keys.create_key(session, "underwriter", "under-two")  # as before digests
    no_scrypt.clear()
    for _ in range(3):
        with db.session_for(app) as session, session.begin():
            keys.authenticate(session, f"Bearer {key}", SECRET)
    assert len(no_scrypt) == 1
    with db.session_for(app) as session:
        record = session.query(ApiKeyRecord).filter_by(name="under-two").one()
        assert record.digest == keys.keyed_digest(key, SECRET)
    with db.session_for(app) as session, session.begin():  # the server secret was rotated
        keys.authenticate(session, f"Bearer {key}", OTHER)
    assert len(no_scrypt) == 2


def test_revocation_takes_effect_at_once(app) -> None:
    with db.session_for(app) as session, session.begin():
        key = keys.create_key(session, "admin", "admin-one", None, SECRET)
    prefix = key.removeprefix(keys.KEY_PREFIX).split(".")[0]
    with db.session_for(app) as session, session.begin():
        keys.authenticate(session, f"Bearer {key}", SECRET)
        assert keys.revoke_key(session, prefix)
    with db.session_for(app) as session, pytest.raises(Unauthorized):
        keys.authenticate(session, f"Bearer {key}", SECRET)


def test_the_instance_secret_is_generated_once(tmp_path) -> None:
    from valuation.instance import api_key_secret
    first = api_key_secret("", tmp_path)
    assert len(first) == 64 and api_key_secret("", tmp_path) == first
    assert oct((tmp_path / "api_key_secret").stat().st_mode & 0o777) == "0o600"
    assert api_key_secret("given", tmp_path) == b"given"


def test_rotation_gives_a_new_key_and_the_old_one_a_grace_period(app) -> None:
    import datetime as dt

    from valuation.errors import ValuationError
    from valuation.store.tables import utcnow

    with db.session_for(app) as session, session.begin():
        old = keys.create_key(session, "dealer", "shop 5", "D5", SECRET)
    old_prefix = old.split(".")[0].removeprefix(keys.KEY_PREFIX)
    with db.session_for(app) as session, session.begin():
        new = keys.rotate_key(session, old_prefix, dt.timedelta(days=7), SECRET)
    with db.session_for(app) as session, session.begin():
        fresh = keys.authenticate(session, f"Bearer {new}", SECRET)
        still = keys.authenticate(session, f"Bearer {old}", SECRET)  # within its grace
        assert (fresh.role, fresh.dealer_id, fresh.name) == ("dealer", "D5", "shop 5")
        assert still.prefix == old_prefix and fresh.prefix != old_prefix
        record = session.query(ApiKeyRecord).filter_by(prefix=old_prefix).one()
        ends = record.expires_at.replace(tzinfo=record.expires_at.tzinfo or dt.UTC)
        assert abs(ends - (utcnow() + dt.timedelta(days=7))) < dt.timedelta(minutes=1)
    with db.session_for(app) as session, session.begin():
        newest = keys.rotate_key(session, fresh.prefix, dt.timedelta(0), SECRET)
    with db.session_for(app) as session, session.begin():
        with pytest.raises(Unauthorized, match="expired"):
            keys.authenticate(session, f"Bearer {new}", SECRET)  # no grace: at once
        assert keys.authenticate(session, f"Bearer {newest}", SECRET).name == "shop 5"
        with pytest.raises(ValuationError, match="no active key"):
            keys.rotate_key(session, fresh.prefix, dt.timedelta(days=1), SECRET)


def test_a_request_records_the_keys_last_use_at_most_once_a_minute(app, client, keys) -> None:
    import datetime as dt

    from valuation.store.tables import aware
    before = dt.datetime.now(dt.UTC).replace(microsecond=0)
    assert client.get("/v1/valuations/nope", headers=keys["dealer"]).status_code == 404
    with db.session_for(app) as session:
        used = {r.name: r.last_used_at for r in session.query(ApiKeyRecord)}
    assert used["underwriter-test"] is None
    first = aware(used["dealer-test"])
    assert before <= first <= dt.datetime.now(dt.UTC)
    assert client.get("/v1/valuations/nope", headers=keys["dealer"]).status_code == 404
    with db.session_for(app) as session:
        again = session.query(ApiKeyRecord).filter_by(name="dealer-test").one().last_used_at
    assert aware(again) == first  # not rewritten within the minute


def test_recent_keys_write_the_use_once_per_period_and_recall_within_the_grace(monkeypatch
                                                                               ) -> None:
    import datetime as dt

    clock = [1000.0]
    monkeypatch.setattr(keys.time, "monotonic", lambda: clock[0])
    recent = keys.RecentKeys(grace=300, touch_every=60)
    assert recent.due("p1") and not recent.due("p1") and recent.due("p2")
    clock[0] += 60
    assert recent.due("p1")
    ann = keys.Principal("ann", "dealer", "p1", "D1")
    soon = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=30)
    bo = keys.Principal("bo", "admin", "p2", None, expires_at=soon)
    recent.remember("digest-ann", ann)
    recent.remember("digest-bo", bo)
    clock[0] += 300
    assert recent.recall("digest-ann") == ann and recent.recall("digest-bo") == bo
    assert recent.recall("digest-unknown") is None
    clock[0] += 1
    assert recent.recall("digest-ann") is None  # the grace has passed
    recent.remember("digest-bo", keys.Principal("bo", "admin", "p2", None,
                                                expires_at=dt.datetime.now(dt.UTC)))
    assert recent.recall("digest-bo") is None  # expired meanwhile
