"""The "libraries only" requests (benchmarks/library_floor.py) that `make bench` compares with
hello world: they must do the library work of the real requests, or their figures would flatter
the ceiling they stand for. A valuation answers a valid key with the service's own body for the
car and stores a row the service reads back as its own; a credit limit reads the stored
valuation and stores a decision the service reads back, once per application; a bad key is
refused. Its commits are synced as the service's are."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import sqlalchemy

from valuation.config import Config
from valuation.services import credit, keys, valuations
from valuation.store import db
from valuation.store.tables import CreditDecisionRecord


@pytest.fixture
def floor(tmp_path: Path, model_root: Path, benchmark_module):  # type: ignore[no-untyped-def]
    library_floor = benchmark_module("library_floor")
    url = f"sqlite:///{tmp_path / 'floor.db'}"
    db.upgrade(url)
    settings = Config(DATABASE_URL=url, MODEL_ROOT=model_root, MODEL_NAME="tiny",
                      INSTANCE_PATH=tmp_path)
    engine = db.make_engine(url)
    with sqlalchemy.orm.Session(engine) as session, session.begin():
        key = keys.create_key(session, "underwriter", "bench", None, settings.api_key_secret())
        revoked = keys.create_key(session, "underwriter", "gone", None, settings.api_key_secret())
        keys.revoke_key(session, revoked.removeprefix(keys.KEY_PREFIX).partition(".")[0])
    yield library_floor, library_floor.create_app(settings).test_client(), engine, key, revoked
    engine.dispose()


def test_a_valuation_is_the_services_body_and_is_stored_as_the_service_stores_it(
        floor, trained) -> None:  # type: ignore[no-untyped-def]
    library_floor, client, engine, key, _ = floor
    got = client.post("/v1/valuations", json=library_floor.CAR,
                      headers={"Authorization": f"Bearer {key}"})
    assert got.status_code == 201
    body = got.get_json()
    expected = valuations.value_car(trained, library_floor.CAR)
    assert {k: body[k] for k in expected} == expected
    assert body["vin"] is None and body["external_ref"] is None
    principal = keys.Principal(name="bench", role="underwriter", prefix="", dealer_id=None)
    with sqlalchemy.orm.Session(engine) as session:
        assert valuations.get(session, principal, body["id"]) == got.get_data(as_text=True)
        stored = session.execute(sqlalchemy.text(
            "SELECT actor, request_json, created_at FROM valuations")).one()
    assert stored.actor == "bench"
    assert json.loads(stored.request_json) == library_floor.CAR
    assert stored.created_at.startswith(body["created_at"][:10])


def test_a_bad_or_revoked_key_is_refused_and_nothing_is_stored(floor) -> None:  # type: ignore[no-untyped-def]
    library_floor, client, engine, key, revoked = floor
    for header in (f"Bearer {key}x", f"Bearer {revoked}", "", f"Bearer {key[:-1]}"):
        got = client.post("/v1/valuations", json=library_floor.CAR,
                          headers={"Authorization": header})
        assert got.status_code == 401, header
    with engine.connect() as conn:
        assert conn.execute(sqlalchemy.text("SELECT count(*) FROM valuations")).scalar() == 0


def test_a_credit_limit_reads_the_valuation_and_is_stored_once(floor) -> None:  # type: ignore[no-untyped-def]
    library_floor, client, engine, key, revoked = floor
    headers = {"Authorization": f"Bearer {key}"}
    valuation = client.post("/v1/valuations", json=library_floor.CAR, headers=headers).get_json()
    application = {"application_id": "A-1", "valuation_id": valuation["id"],
                   "customer": {"score": 700}, "declared_price": 120000}
    first = client.post("/v1/credit-limits", json=application, headers=headers)
    assert first.status_code == 201
    decision = first.get_json()
    assert decision["valuation_id"] == valuation["id"]
    assert decision["value"] == valuation["value"]
    with sqlalchemy.orm.Session(engine) as session:
        assert credit.get(session, decision["id"]) == first.get_data(as_text=True)
        stored = session.get(CreditDecisionRecord, decision["id"])
        assert stored is not None and stored.actor == "bench"
        assert json.loads(stored.request_json) == application
        assert json.loads(stored.inputs_json)["valuation"] == valuation
    again = client.post("/v1/credit-limits", json=application, headers=headers)
    assert (again.status_code, again.get_data()) == (200, first.get_data())
    missing = client.post("/v1/credit-limits", headers=headers,
                          json={**application, "application_id": "A-2", "valuation_id": "none"})
    assert missing.status_code == 404
    refused = client.post("/v1/credit-limits", json={**application, "application_id": "A-3"},
                          headers={"Authorization": f"Bearer {revoked}"})
    assert refused.status_code == 401
    with engine.connect() as conn:
        assert conn.execute(sqlalchemy.text("SELECT count(*) FROM credit_decisions")).scalar() == 1


def test_its_commits_are_synced_as_the_services_are(floor) -> None:  # type: ignore[no-untyped-def]
    """Valuations: synchronous=NORMAL (1), as the relaxed store; decisions: FULL (2)."""
    floor_state = floor[1].application.extensions["library_floor"]
    for connection, synchronous in ((floor_state.relaxed, 1), (floor_state.durable, 2)):
        assert connection.execute("PRAGMA synchronous").fetchone()[0] == synchronous
        assert connection.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


@pytest.mark.parametrize("cars", [3, 80])  # one car at a time, and the vectorised path
def test_a_batch_makes_the_services_catboost_calls_and_stores_its_bodies(
        floor, trained, benchmark_module, cars: int) -> None:  # type: ignore[no-untyped-def]
    library_floor, client, engine, key, _ = floor
    inprocess = benchmark_module("inprocess")
    body = inprocess.batch_body(inprocess.demo_cars(cars))
    vehicles = json.loads(body)["vehicles"]
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
    first = client.post("/v1/valuations/batch", data=body, headers=headers)
    again = client.post("/v1/valuations/batch", data=body, headers=headers)  # the plan reused
    assert first.status_code == again.status_code == 200
    principal = keys.Principal(name="bench", role="underwriter", prefix="", dealer_id=None)
    expected, _ = valuations.value_batch(trained, principal, vehicles)
    for got in (first.get_json(), again.get_json()):
        assert (got["rows"], got["valued"], got["failed"]) == (cars, cars, 0)
        assert [r["row"] for r in got["results"]] == list(range(cars))
        for result, wanted in zip(got["results"], expected, strict=True):
            assert {k: result[k] for k in wanted if k not in ("id", "created_at")} == {
                k: v for k, v in wanted.items() if k not in ("id", "created_at")}
    plan = next(iter(client.application.extensions["library_floor"].plans.values()))
    models = (trained.point, trained.low, trained.high)
    if cars < valuations.SINGLE_PATH_BELOW:  # per car: one pool, each model once
        assert len(plan.pools) == cars
        assert [(models.index(m), at) for m, at, _ in plan.calls] == [
            (k, car) for car in range(cars) for k in (0, 1, 2)]
    else:  # the cars for the three models, then the breakdown's rows for the point model
        assert [len(data) for data, _ in plan.pools][0] == cars
        assert len(plan.pools[1][0]) > 4 * cars
        assert [(models.index(m), at) for m, at, _ in plan.calls] == [(0, 0), (1, 0), (2, 0),
                                                                      (0, 1)]
    with sqlalchemy.orm.Session(engine) as session:
        stored = session.execute(sqlalchemy.text(
            "SELECT id, request_json, response_json FROM valuations")).all()
        assert len(stored) == 2 * cars
        answered = {r["id"]: r for r in first.get_json()["results"]}
        mine = [row for row in stored if row.id in answered]
        assert len(mine) == cars
        for row in mine:
            assert valuations.get(session, principal, row.id) == row.response_json
            assert json.loads(row.response_json) == {
                k: v for k, v in answered[row.id].items() if k != "row"}
            assert json.loads(row.request_json) in vehicles


def test_a_batch_with_a_bad_car_or_key_is_refused_and_nothing_is_stored(
        floor, benchmark_module) -> None:  # type: ignore[no-untyped-def]
    library_floor, client, engine, key, revoked = floor
    inprocess = benchmark_module("inprocess")
    vehicles = json.loads(inprocess.batch_body(inprocess.demo_cars(3)))["vehicles"]
    headers = {"Authorization": f"Bearer {key}"}
    bad = client.post("/v1/valuations/batch", headers=headers,
                      json={"vehicles": [*vehicles, {**vehicles[0], "mileage_km": -5}]})
    assert bad.status_code == 422
    refused = client.post("/v1/valuations/batch", json={"vehicles": vehicles},
                          headers={"Authorization": f"Bearer {revoked}"})
    assert refused.status_code == 401
    with engine.connect() as conn:
        assert conn.execute(sqlalchemy.text("SELECT count(*) FROM valuations")).scalar() == 0
