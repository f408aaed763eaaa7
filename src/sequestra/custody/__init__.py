"""Custody: cases, assets, custody wallets, holdings and their double-entry positions."""
