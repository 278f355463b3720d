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
