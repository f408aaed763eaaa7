"""Custody: cases, assets, custody wallets, holdings and their double-entry positions.

Importing the package registers the custody statement kinds' body schemas and the custody
projection with the ledger, so every append and every verify in this process applies the
custody rules.
"""

from sequestra.custody import kinds as _kinds  # noqa: F401  (registers the body schemas)
from sequestra.custody import projection as _projection  # noqa: F401  (registers the projection)
