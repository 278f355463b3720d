"""Model-card routes: every registered model version, and one card."""
from __future__ import annotations

from flask import Flask, Response
from flask.views import MethodView
from flask_smorest import Blueprint

from .. import serving
from ..errors import ModelNotFound, ValuationError
from .auth import require
from .responses import json_response

models_blp = Blueprint("models", __name__, url_prefix="/v1/models",
                       description="Model cards of the valuation models.")


@models_blp.route("")
class Models(MethodView):
    @require("pricing_analyst", "pricing_approver", "admin", "underwriter")
    @models_blp.alt_response(200, description="every model version with its card summary")
    def get(self) -> Response:
        """Every registered model version; `current` marks the promoted one."""
        reg = serving.registry()
        items = []
        for name in reg.names():
            for version in reg.versions(name):
                card = reg.card(name, version)
                items.append({"name": name, "version": version,
                              "current": version == reg.current(name),
                              "created_at": card.get("created_at"),
                              "currency": card.get("currency"),
                              "synthetic": card.get("synthetic", False),
                              "metrics": card.get("metrics", {}).get("model", {}).get("overall")})
        return json_response({"models": items})


@models_blp.route("/<name>/<version>")
class ModelCard(MethodView):
    @require("pricing_analyst", "pricing_approver", "admin", "underwriter")
    @models_blp.alt_response(200, description="the model card")
    def get(self, name: str, version: str) -> Response:
        """One model card."""
        reg = serving.registry()
        try:
            reg.resolve(f"{name}:{version}")
        except ModelNotFound:
            raise
        except ValuationError as exc:  # a name that cannot exist: no such model
            raise ModelNotFound(f"no model {name}:{version}") from exc
        return json_response(reg.card(name, version))


def init_app(app: Flask) -> None:
    app.extensions["api"].register_blueprint(models_blp)
