"""Console fixtures: signed-in test clients, a real server on a loopback port, and a headless
Chromium driven by Playwright (Debian's /usr/bin/chromium; `.ci/run` installs it)."""
from __future__ import annotations

import os
import re
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from werkzeug.serving import make_server

from valuation import create_app
from valuation.config import Config
from valuation.services import keys as api_keys
from valuation.store import db

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
# as root in a container, and without the network calls a closed machine refuses
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]


def csrf_of(html: str) -> str:
    found = CSRF.search(html)
    assert found, "no CSRF token on the page"
    return found.group(1)


def sign_in(client: Any, key: str) -> Any:
    token = csrf_of(client.get("/console/signin").text)
    return client.post("/console/signin", data={"api_key": key, "csrf_token": token})


@pytest.fixture
def csrf():  # type: ignore[no-untyped-def]
    """The CSRF token of a page's HTML."""
    return csrf_of


@pytest.fixture
def console_sign_in():  # type: ignore[no-untyped-def]
    """Sign a test client in with a raw API key (the response of the sign-in form)."""
    return sign_in


@pytest.fixture
def role_keys(app) -> dict[str, str]:  # type: ignore[no-untyped-def]
    """One raw API key per role, plus a second approver."""
    out = {}
    with db.session_for(app) as session, session.begin():
        for role in api_keys.ROLES:
            out[role] = api_keys.create_key(session, role, f"{role}-console",
                                            "D1" if role == "dealer" else None)
        out["approver2"] = api_keys.create_key(session, "pricing_approver", "approver-two")
    return out


@pytest.fixture
def signed_in(app, role_keys):  # type: ignore[no-untyped-def]
    """A test client per role, signed in to the console."""
    clients = {}
    for role, key in role_keys.items():
        client = app.test_client()
        if role != "dealer":
            assert sign_in(client, key).status_code == 302
        clients[role] = client
    return clients


@pytest.fixture
def live_app(tmp_path: Path, model_root: Path) -> Iterator[tuple[str, Any, dict[str, str]]]:
    """The app served by a real (threaded werkzeug) server on a loopback port, on a SQLite
    file: its base URL, the app and one key per role."""
    url = f"sqlite:///{tmp_path / 'console.db'}"
    db.upgrade(url)
    app = create_app(Config(DATABASE_URL=url, MODEL_ROOT=model_root, MODEL_NAME="tiny",
                            INSTANCE_PATH=tmp_path, RATE_LIMITS_ENABLED=False))
    keys = {}
    with db.session_for(app) as session, session.begin():
        for role in api_keys.ROLES:
            keys[role] = api_keys.create_key(session, role, f"{role}-browser",
                                             "D1" if role == "dealer" else None)
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}", app, keys
    server.shutdown()
    db.dispose(app)


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    """Headless Chromium; skipped, saying why, only when it or Playwright is missing."""
    if not Path(CHROMIUM).exists() and shutil.which("chromium") is None:
        pytest.skip(f"no Chromium at {CHROMIUM}: `apt-get install chromium` (.ci/run does)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.skip("Playwright is not installed (it is in the test extra)")
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture(scope="session")
def screenshots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where the browser tests save their screenshots (SCREENSHOTS=dir keeps them)."""
    folder = os.environ.get("SCREENSHOTS")
    path = Path(folder) if folder else tmp_path_factory.mktemp("screenshots")
    path.mkdir(parents=True, exist_ok=True)
    return path
