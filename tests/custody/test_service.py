"""What people type, turned into statement bodies: exact amounts, normalised hashes."""

from __future__ import annotations

import pytest

from sequestra.custody import service
from sequestra.custody.assets import BTC, ETH


def test_transaction_hashes_take_each_chains_form() -> None:
    txid = "AB" * 32
    assert service.tx_hash("bitcoin", txid) == "ab" * 32
    assert service.tx_hash("ethereum", txid) == "0x" + "ab" * 32
    with pytest.raises(service.InputError, match="tx: expected a bitcoin txid: 64 hex digits"):
        service.tx_hash("bitcoin", "0x" + txid)
    with pytest.raises(service.InputError, match="tx: expected a ethereum transaction hash"):
        service.tx_hash("ethereum", "ab" * 31)


def test_display_amounts_convert_exactly_or_not_at_all() -> None:
    assert service.amount_base(BTC, "0.12345678") == 12_345_678
    assert service.amount_base(ETH, "1.000000000000000001") == 10**18 + 1
    with pytest.raises(service.InputError, match="too many decimals"):
        service.amount_base(BTC, "0.123456789")
    with pytest.raises(service.InputError, match="amount: expected"):
        service.amount_base(BTC, "-1")
    assert service.amount_base(BTC, "0", "fee", zero_allowed=True) == 0
