"""The model wing: the canonical vehicle record, the feature contract, adapters, training, the
registry, the predictor, explanations, priors, accuracy metrics and the demo market.

No Flask and no database. May import `strategies` and the top-level `errors`; never
`valuation.services`, `valuation.http` or `valuation.store`.
"""
