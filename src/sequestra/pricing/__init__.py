"""Pricing: venue quotes, aggregation, FX to KZT, and valuations recorded in the ledger.

Importing the package registers `valuation.recorded` and the pricing projection (after the
custody ones it builds on). The aggregation and FX modules are pure or stand alone.
"""

import sequestra.custody  # noqa: F401  (custody kinds and projection come first)
from sequestra.pricing import kinds as _kinds  # noqa: F401  (registers the body schema)
from sequestra.pricing import projection as _projection  # noqa: F401  (the projection)
