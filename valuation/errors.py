"""Domain errors; each carries the HTTP status the API answers with."""
from __future__ import annotations


class ValuationError(Exception):
    """Base of every error the service raises on purpose."""

    status = 400

    def __init__(self, message: str, *, errors: dict | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.errors = errors


class DataError(ValuationError):
    """An input file or dataset is not what it should be."""

    status = 422


class ModelNotFound(ValuationError):
    """No such model name or version in the registry."""

    status = 404


class ModelMismatch(ValuationError):
    """A stored model does not match the feature contract or its card."""

    status = 503
