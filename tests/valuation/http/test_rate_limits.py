"""Rate limits per key (its own) or per role (RATE_LIMITS): 429 with Retry-After; open routes
are not limited; counts shared between workers through Redis."""
import socket
import uuid

import pytest

from valuation import create_app
from valuation.config import Config
from valuation.errors import ValuationError
from valuation.services import keys as api_keys
from valuation.store import db

ROLES = ("dealer=2/minute,underwriter=5/minute,pricing_analyst=5/minute,"
         "pricing_approver=5/minute,admin=5/minute")


def make_app(tmp_path, model_root, database_url, **extra):
    config = Config(DATABASE_URL=database_url, MODEL_ROOT=model_root, MODEL_NAME="tiny",
                    INSTANCE_PATH=tmp_path, TESTING=True, RATE_LIMITS=ROLES, **extra)
    return create_app(config)


def key(app, role, rate_limit=None):
    with db.session_for(app) as session, session.begin():
        made = api_keys.create_key(session, role, f"{role}-{uuid.uuid4().hex[:6]}",
                                   "D1" if role == "dealer" else None, rate_limit=rate_limit)
    return {"Authorization": f"Bearer {made}"}


@pytest.fixture
def limited_app(tmp_path, model_root, database_url):
    app = make_app(tmp_path, model_root, database_url)
    yield app
    db.dispose(app)


def test_a_role_budget_then_429_with_retry_after(limited_app) -> None:
    client = limited_app.test_client()
    dealer, other_dealer = key(limited_app, "dealer"), key(limited_app, "dealer")
    first = client.get("/v1/valuations/nope", headers=dealer)
    assert first.status_code == 404
    assert first.headers["X-RateLimit-Limit"] == "2"
    assert first.headers["X-RateLimit-Remaining"] == "1"
    assert "Retry-After" not in first.headers  # only a refusal carries it
    assert client.get("/v1/valuations/nope", headers=dealer).status_code == 404
    refused = client.get("/v1/valuations/nope", headers=dealer)
    assert refused.status_code == 429
    assert refused.json["code"] == 429 and refused.json["status"] == "Too Many Requests"
    assert 0 <= int(refused.headers["Retry-After"]) <= 60
    # the budget is per key, across routes: another route is refused too, another key is not
    assert client.post("/v1/valuations", json={}, headers=dealer).status_code == 429
    assert client.get("/v1/valuations/nope", headers=other_dealer).status_code == 404
    for _ in range(4):  # an underwriter's budget is 5
        assert client.get("/v1/valuations/nope", headers=key(limited_app, "underwriter")
                          ).status_code == 404


def test_a_key_of_its_own_limit(limited_app) -> None:
    client = limited_app.test_client()
    generous = key(limited_app, "dealer", rate_limit="4/minute")
    codes = [client.get("/v1/valuations/nope", headers=generous).status_code for _ in range(5)]
    assert codes == [404, 404, 404, 404, 429]


def test_refusals_before_the_limit_and_open_routes_are_not_counted(limited_app) -> None:
    client = limited_app.test_client()
    dealer = key(limited_app, "dealer")
    for _ in range(3):  # a role that may not call the route is refused (403), not counted
        assert client.get("/v1/strategies", headers=dealer).status_code == 403
    assert client.get("/v1/valuations/nope", headers=dealer).status_code == 404
    for _ in range(10):
        assert client.get("/health").status_code == 200
        assert client.get("/ready").status_code == 200
        assert client.get("/metrics").status_code == 200
    assert client.get("/v1/valuations/nope", headers=dealer).status_code == 404


def test_bad_limits_are_refused(tmp_path, model_root, database_url, app) -> None:
    with pytest.raises(ValuationError, match="names no limit for admin"):
        create_app(Config(
            DATABASE_URL=database_url, MODEL_ROOT=model_root, INSTANCE_PATH=tmp_path,
            RATE_LIMITS="dealer=1/minute,underwriter=1/minute,pricing_analyst=1/minute,"
                        "pricing_approver=1/minute"))
    with pytest.raises(ValuationError, match="not a rate limit"):
        create_app(Config(DATABASE_URL=database_url, MODEL_ROOT=model_root,
                          INSTANCE_PATH=tmp_path, RATE_LIMITS=ROLES.replace("2/minute", "lots")))
    with db.session_for(app) as session, pytest.raises(ValuationError, match="not a rate limit"):
        api_keys.create_key(session, "admin", "ann", rate_limit="fast")


def _redis_answers() -> bool:
    try:
        with socket.create_connection(("127.0.0.1", 6379), timeout=0.5):
            return True
    except OSError:
        return False


@pytest.mark.skipif(not _redis_answers(), reason="no Redis on 127.0.0.1:6379")
def test_two_workers_share_one_count_in_redis(tmp_path, model_root, database_url) -> None:
    """Two apps (as two gunicorn workers) on one Redis: the budget is the key's, not the
    worker's."""
    one = make_app(tmp_path / "one", model_root, database_url,
                   RATE_LIMIT_STORAGE="redis://127.0.0.1:6379/0")
    dealer = key(one, "dealer", rate_limit="3/minute")
    two = make_app(tmp_path / "two", model_root, database_url,
                   RATE_LIMIT_STORAGE="redis://127.0.0.1:6379/0")
    try:
        a, b = one.test_client(), two.test_client()
        assert [a.get("/v1/valuations/nope", headers=dealer).status_code,
                b.get("/v1/valuations/nope", headers=dealer).status_code,
                a.get("/v1/valuations/nope", headers=dealer).status_code,
                b.get("/v1/valuations/nope", headers=dealer).status_code] == [404, 404, 404, 429]
        import redis  # the count lives in Redis, under the key's prefix (not in a worker)
        prefix = dealer["Authorization"].removeprefix("Bearer vk_").split(".")[0]
        counts = [k for k in redis.Redis(host="127.0.0.1").keys("*") if prefix.encode() in k]
        assert counts, "no count in Redis for the key"
    finally:
        for app in (one, two):
            db.dispose(app)


def test_the_memory_counters_start_no_thread_per_request(monkeypatch) -> None:
    import threading
    import time

    from valuation.http.rate_limits import QuietMemoryStorage

    counters = QuietMemoryStorage()
    started = []
    monkeypatch.setattr(threading.Timer, "start", lambda self: started.append(self))
    for i in range(200):
        counters.incr(f"key-{i % 3}", expiry=0.005)
        if i % 50 == 0:
            time.sleep(0.012)  # the library would have started a new timer thread here
    assert started == []
    assert counters.get("key-0") > 0
    time.sleep(0.01)
    assert counters.get("key-0") == 0  # an expired count reads as 0 without any purge
    counters.incr("old", expiry=0.001)
    time.sleep(0.005)
    counters.PURGE_EVERY_S = 0.0
    counters.incr("new", expiry=60)  # the inline purge forgets expired keys
    assert "old" not in counters.storage and counters.get("new") == 1
