"""Watching custody addresses on-chain and reconciling them with the ledger.

Importing the package registers the watcher's statement kinds and its projection with the
ledger (and the custody ones it builds on).
"""

import sequestra.custody  # noqa: F401  (the custody kinds and projection come first)
from sequestra.chains.watch import kinds as _kinds  # noqa: F401  (registers the body schemas)
from sequestra.chains.watch import projection as _projection  # noqa: F401  (the projection)
