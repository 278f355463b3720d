"""Faults: PostgreSQL goes away mid-run behind a TCP proxy and comes back. Credit limits answer
503 and store nothing unanswered; valuations answer with the value, `id: null` and a warning;
/ready turns 503; everything recovers by itself."""
from __future__ import annotations

import socket
import threading
from urllib.parse import urlsplit

import pytest
import sqlalchemy

from valuation import create_app
from valuation.config import Config
from valuation.services import keys as api_keys
from valuation.services.valuations import NOT_STORED
from valuation.store import db

from .test_credit import APPLICATION, CAR


class Proxy:
    """A TCP proxy on 127.0.0.1 to the database: `cut()` closes the listener and every open
    connection (the database is gone), `mend()` listens again on the same port."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.port = 0
        self._conns: list[socket.socket] = []
        self._lock = threading.Lock()
        self._listener: socket.socket | None = None
        self.mend()

    def mend(self) -> None:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(16)
        self.port = listener.getsockname()[1]
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def cut(self) -> None:
        assert self._listener is not None
        self._listener.shutdown(socket.SHUT_RDWR)  # wakes the accepting thread (Linux)
        self._listener.close()
        with self._lock:
            for conn in self._conns:
                try:
                    conn.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                conn.close()
            self._conns.clear()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return  # cut
            server = socket.create_connection(self.target)
            with self._lock:
                self._conns += [client, server]
            for a, b in ((client, server), (server, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    @staticmethod
    def _pump(source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for s in (source, sink):
                try:
                    s.close()
                except OSError:
                    pass


@pytest.fixture
def proxied(tmp_path, model_root, database_url):
    if not database_url.startswith("postgresql"):
        pytest.skip("the outage is staged on PostgreSQL, behind a TCP proxy")
    parts = urlsplit(database_url)
    proxy = Proxy((parts.hostname or "127.0.0.1", parts.port or 5432))
    url = database_url.replace(parts.netloc,
                               f"{parts.username or 'postgres'}@127.0.0.1:{proxy.port}")
    app = create_app(Config(DATABASE_URL=url, MODEL_ROOT=model_root, MODEL_NAME="tiny",
                            INSTANCE_PATH=tmp_path, TESTING=True))
    with db.session_for(app) as session, session.begin():
        made = {role: api_keys.create_key(session, role, f"{role}-faults",
                                          "D1" if role == "dealer" else None)
                for role in ("dealer", "underwriter")}
    headers = {role: {"Authorization": f"Bearer {k}"} for role, k in made.items()}
    direct = sqlalchemy.create_engine(database_url)
    yield app, proxy, headers, direct
    db.dispose(app)
    direct.dispose()


def decisions(direct, application_id: str) -> int:
    with direct.connect() as conn:
        return conn.execute(sqlalchemy.text(
            "SELECT count(*) FROM credit_decisions WHERE application_id = :a"),
            {"a": application_id}).scalar_one()


def test_the_database_goes_away_and_comes_back(proxied) -> None:
    app, proxy, keys, direct = proxied
    client = app.test_client()
    stored = client.post("/v1/valuations", json=CAR, headers=keys["dealer"])
    assert stored.status_code == 201
    assert client.post("/v1/credit-limits", json=APPLICATION,
                       headers=keys["underwriter"]).status_code == 201
    assert client.get("/ready").status_code == 200

    proxy.cut()
    # a valuation still answers: the value, no id, a warning
    valued = client.post("/v1/valuations", json=CAR, headers=keys["dealer"])
    assert valued.status_code == 200, valued.json
    assert valued.json["id"] is None and NOT_STORED in valued.json["warnings"]
    assert valued.json["value"] == stored.json["value"]
    assert "Location" not in valued.headers
    batch = client.post("/v1/valuations/batch", json={"vehicles": [CAR, {"brand": "x"}]},
                        headers=keys["dealer"])
    assert batch.status_code == 200
    assert batch.json["results"][0]["id"] is None
    assert NOT_STORED in batch.json["results"][0]["warnings"]
    assert "errors" in batch.json["results"][1]
    # a credit decision cannot be stored, so none is given
    during = dict(APPLICATION, application_id="APP-OUTAGE")
    refused = client.post("/v1/credit-limits", json=during, headers=keys["underwriter"])
    assert refused.status_code == 503, refused.json
    assert refused.json["message"] == "the database is unavailable; try again shortly"
    assert refused.headers["Retry-After"] == "5"
    # a key this worker never saw cannot be checked: 503, not 401
    unknown = client.post("/v1/valuations", json=CAR,
                          headers={"Authorization": "Bearer vk_00000000.never-seen"})
    assert unknown.status_code == 503
    ready = client.get("/ready")
    assert ready.status_code == 503 and ready.json["database"] == "unreachable"
    assert decisions(direct, "APP-OUTAGE") == 0

    proxy.mend()  # no restart: the pool's pre-ping replaces the dead connections
    assert client.get("/ready").status_code == 200
    assert client.post("/v1/valuations", json=CAR, headers=keys["dealer"]).status_code == 201
    again = client.post("/v1/credit-limits", json=during, headers=keys["underwriter"])
    assert again.status_code == 201
    assert decisions(direct, "APP-OUTAGE") == 1
