"""Watching custody addresses on-chain and reconciling them with the ledger."""
