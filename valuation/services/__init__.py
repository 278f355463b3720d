"""The services wing: the use cases (value and store, decide and store, the strategy lifecycle,
experiments, simulations, API keys), each a function of a database session.

Takes and returns plain typed objects; no Flask, no marshmallow. May import `valuation.model`,
`valuation.store`, `strategies` and the top-level `errors`; never `valuation.http`.
"""
