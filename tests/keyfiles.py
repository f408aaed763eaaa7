"""Key file helpers for tests: a quick KDF policy, so a test does not spend a second per key.

Production code never takes these: new files get 600,000 iterations and reading refuses
fewer (tests/ledger/test_keys.py shows both).
"""

from __future__ import annotations

from typing import Final

from sequestra.ledger.keyfile import KdfPolicy

QUICK_KDF: Final = KdfPolicy(iterations=1_000, iterations_min=1_000)
