"""/health and /ready."""
from pathlib import Path

from valuation import create_app
from valuation.config import Config


def test_health_is_open(client) -> None:
    response = client.get("/health")
    assert response.status_code == 200 and response.json == {"status": "ok"}


def test_ready_names_the_model(client) -> None:
    response = client.get("/ready")
    assert response.status_code == 200
    assert response.json["model"] == {"name": "tiny", "version": "1"}
    assert response.json["database"] == "ok"


def test_not_ready_without_a_model(tmp_path: Path) -> None:
    app = create_app(Config(DATABASE_URL=f"sqlite:///{tmp_path / 'x.db'}",
                            MODEL_ROOT=tmp_path / "empty", MODEL_NAME="none",
                            INSTANCE_PATH=tmp_path))
    response = app.test_client().get("/ready")
    assert response.status_code == 503
    assert response.json["status"] == "unavailable"
    # the open endpoint names no registry, version or path; the log has the reason
    assert response.json["model_error"] == "no model loaded (see the server log)"
    assert str(tmp_path) not in response.get_data(as_text=True)


def test_a_405_names_the_allowed_methods(client) -> None:
    response = client.delete("/v1/valuations")
    assert response.status_code == 405
    assert set(response.headers["Allow"].split(", ")) == {"POST", "OPTIONS"}
    assert response.json["code"] == 405


def test_the_request_id_is_echoed_or_made(client) -> None:
    given = client.get("/health", headers={"X-Request-ID": "dealer-app.42_a"})
    assert given.headers["X-Request-ID"] == "dealer-app.42_a"
    made = client.get("/health").headers["X-Request-ID"]
    unsafe = client.get("/health", headers={"X-Request-ID": "a b\\c"}).headers["X-Request-ID"]
    assert len(made) == 32 and len(unsafe) == 32 and made != unsafe
    assert client.delete("/v1/valuations", headers={"X-Request-ID": "r1"}).headers[
        "X-Request-ID"] == "r1"


def test_not_ready_until_the_database_is_at_the_migrations_head(tmp_path: Path,
                                                                 model_root: Path) -> None:
    from valuation.store import db

    url = f"sqlite:///{tmp_path / 'fresh.db'}"
    app = create_app(Config(DATABASE_URL=url, MODEL_ROOT=model_root, MODEL_NAME="tiny",
                            INSTANCE_PATH=tmp_path))
    client = app.test_client()
    empty = client.get("/ready")
    assert empty.status_code == 503 and empty.json["database"] == "not migrated"
    db.upgrade(url, "0005")
    assert client.get("/ready").json["database"] == "not migrated"
    db.upgrade(url)
    ready = client.get("/ready")
    assert ready.status_code == 200 and ready.json["database"] == "ok"


def test_a_corrupt_model_file_keeps_the_worker_unready_and_the_log_says_why(
        tmp_path: Path, model_root: Path, caplog) -> None:
    import shutil

    from valuation.store import db

    root = tmp_path / "models"
    shutil.copytree(model_root, root)
    point = sorted((root / "tiny" / "1").glob("point*.cbm"))[0]
    point.write_bytes(point.read_bytes()[:100])  # a truncated copy
    url = f"sqlite:///{tmp_path / 'x.db'}"
    db.upgrade(url)
    with caplog.at_level("WARNING", logger="valuation.serving"):
        app = create_app(Config(DATABASE_URL=url, MODEL_ROOT=root, MODEL_NAME="tiny",
                                INSTANCE_PATH=tmp_path))
    response = app.test_client().get("/ready")
    assert response.status_code == 503 and response.json["model"] is None
    assert f"{point.name} is missing or does not match the hash" in caplog.text
    assert point.name not in response.get_data(as_text=True)  # the reason stays in the log
