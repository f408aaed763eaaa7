"""Reports made from the ledger: figures computed from a ledger prefix, written byte for byte
the same for the same prefix."""
