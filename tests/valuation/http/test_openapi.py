"""The OpenAPI document is byte-identical to the committed copy, so every API change is deliberate.

After a deliberate change, rewrite the copy and review its diff:
`.venv/bin/python tests/valuation/http/test_openapi.py`.
"""
from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

SNAPSHOT = Path(__file__).with_name("openapi.json")


def served_document(root: Path) -> bytes:
    """GET /openapi.json of an app with no model: the document depends on no model or data."""
    from valuation import create_app
    from valuation.config import Config

    app = create_app(Config(DATABASE_URL=f"sqlite:///{root / 'openapi.db'}",
                            MODEL_ROOT=root / "models", MODEL_NAME="none", INSTANCE_PATH=root))
    response = app.test_client().get("/openapi.json")
    assert response.status_code == 200
    return response.data


def test_openapi_matches_the_committed_copy(tmp_path: Path) -> None:
    served = served_document(tmp_path)
    assert served == SNAPSHOT.read_bytes(), (
        "the OpenAPI document changed; if deliberate, run "
        "`.venv/bin/python tests/valuation/http/test_openapi.py` and commit the new copy")


def test_openapi_is_a_valid_openapi_3_document() -> None:
    """Schema-driven tools (client generators, schemathesis) need a valid document: a Decimal
    field's bounds were once written as strings, which this validator refuses."""
    from openapi_spec_validator import validate

    document = json.loads(SNAPSHOT.read_bytes())
    validate(document)
    rate = document["components"]["schemas"]["CreditLimitRequest"]["properties"]["annual_rate"]
    assert (rate["minimum"], rate["maximum"]) == (0, 1)


def test_every_protected_operation_documents_its_refusals() -> None:
    """401 (no valid key) and 403 (a role that may not) on every /v1 operation, from the one
    `require` decorator, so a new route documents them too."""
    document = json.loads(SNAPSHOT.read_bytes())
    operations = [(method, path, op) for path, ops in document["paths"].items()
                  if path.startswith("/v1/") for method, op in ops.items()
                  if method != "parameters"]
    assert len(operations) > 20
    for method, path, op in operations:
        assert {"401", "403", "default"} <= set(op["responses"]), (method, path)


def test_openapi_lists_every_resource_family() -> None:
    document = json.loads(SNAPSHOT.read_bytes())
    prefixes = {path.split("/")[2] for path in document["paths"] if path.startswith("/v1/")}
    assert prefixes == {"valuations", "valuation-jobs", "models", "credit-limits", "dealers",
                        "loans", "monitoring",
                        "strategies"}


def test_the_document_does_not_depend_on_the_served_model(client) -> None:
    """The same bytes whether a model is served or not (the snapshot needs no model)."""
    assert client.get("/openapi.json").data == SNAPSHOT.read_bytes()


if __name__ == "__main__":
    with tempfile.TemporaryDirectory() as folder:
        SNAPSHOT.write_bytes(served_document(Path(folder)))
    sys.stdout.write(f"wrote {SNAPSHOT}\n")
