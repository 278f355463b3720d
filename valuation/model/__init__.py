"""The model wing: the canonical vehicle record, the feature contract, adapters, training, the
registry, the predictor, explanations, priors, accuracy metrics and the demo market.

No Flask and no database. May import `strategies` and the top-level `errors`; never
`valuation.services`, `valuation.http` or `valuation.store`.

Importing it sets one pandas option for the process: text columns (pandas' `str` dtype) are
stored as Python strings, not in pyarrow (pandas 3's default storage when pyarrow is
installed). The dtype and its semantics stay the same (missing values are NaN); only the
storage changes. The service builds its frames from Python objects and reads them back one
value at a time (categories, CatBoost pools, response bodies), which costs several times more
from pyarrow: 1,000 cars' bodies took 71-76 ms with pyarrow's storage and 59-66 ms with this
one, identical to the byte (README, Performance).
"""
import pandas as pd

pd.set_option("mode.string_storage", "python")
