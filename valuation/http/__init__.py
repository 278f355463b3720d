"""The HTTP wing: flask-smorest blueprints, marshmallow schemas, docs, health and metrics.

Views translate and services decide: a view loads a body with a schema, calls one service
function and dumps the result. May import `valuation.services`, `valuation.model`,
`valuation.store`, `strategies` and the top-level `config`, `errors` and `serving`.
"""
