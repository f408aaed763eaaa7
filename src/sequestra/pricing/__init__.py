"""Pricing: venue quotes, aggregation, FX to KZT, and valuations recorded in the ledger."""
