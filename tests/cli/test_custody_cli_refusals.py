"""Bad input to the custody commands: exit 2, a message naming the field, nothing recorded.

Each refusal is checked by `Treasury.refused`: the exit code, the `error: field: expected`
message and the ledger's size before and after. Runs on SQLite and PostgreSQL.
"""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from sequestra.errors import EXIT_FORBIDDEN, EXIT_INPUT, EXIT_NOT_FOUND
from tests.cli.treasury import (
    AUDITOR_KEY,
    BTC_1,
    BTC_2,
    BTC_3,
    BTC_OWNER,
    BTC_P2SH,
    BTC_REGTEST,
    CASE,
    ETH_1,
    ETH_2,
    OFFICER_KEY,
    TX_1,
    TX_2,
    Treasury,
)

BAD_EIP55 = ETH_2.replace("fB69", "fb69")  # one letter's case changed
BAD_BECH32 = BTC_3[:-1] + "2"  # last character changed
DECISION = "--court Court --decision D-1 --date 2025-04-01"


def _ledger(runner: CliRunner, url: str) -> Treasury:
    """A case holding 1 BTC in BTC_1; wallets BTC_1, BTC_2, BTC_3 and ETH_1 registered."""
    t = Treasury.create(runner, url)
    t.open_case()
    for label, (address, chain) in enumerate(
        [(BTC_1, "bitcoin"), (BTC_2, "bitcoin"), (BTC_3, "bitcoin"), (ETH_1, "ethereum")]
    ):
        t.add_wallet(address, chain, f"cold-{label}")
    t.seize("1", BTC_1)
    return t


def test_addresses_amounts_assets_and_cases(runner: CliRunner, database_url: str) -> None:
    t = _ledger(runner, database_url)
    wallet = "wallet add {} --chain {} --label x"
    t.refused(wallet.format(BAD_EIP55, "ethereum"), says="address: expected an EIP-55 checksum")
    t.refused(wallet.format(BAD_BECH32, "bitcoin"), says="address: expected a valid Bech32")
    t.refused(
        wallet.format(BTC_REGTEST, "bitcoin"), says="address: expected a Bitcoin mainnet address"
    )
    t.refused(wallet.format(BTC_1, "bitcoin"), says="address: expected a wallet not registered")
    t.refused(f"case open {CASE} --agency AFM --basis x", says="case: expected a case number not")
    seize = f"seize --case {CASE} --wallet {BTC_1}"
    t.refused(f"{seize} --asset DOGE --amount 1", says="asset: expected a known symbol")
    t.refused(f"{seize} --asset BTC --amount -0.5", says="amount: expected no sign")
    t.refused(f"{seize} --asset BTC --amount 0", says="amount: expected an amount greater than")
    t.refused(
        f"{seize} --asset BTC --amount 0.123456789",
        says="amount: expected at most 8 decimals (BTC has 8)",
    )
    t.refused(f"{seize} --asset BTC --amount 1e-3", says="amount: expected no exponent")
    t.refused(
        f"seize --case AFM-NONE --asset BTC --amount 1 --wallet {BTC_1}",
        says="case: expected a case opened with `sequestra case open`, got 'AFM-NONE'",
    )
    t.refused(
        f"seize --case {CASE} --asset BTC --amount 1 --wallet {BTC_P2SH}",
        says="wallet: expected a custody wallet registered",
    )
    t.refused(
        f"seize --case {CASE} --asset ETH --amount 1 --wallet {BTC_1}",
        says="wallet: expected an Ethereum address",
    )
    t.refused(
        f"{seize} --asset BTC --amount 1 --source-tx xyz",
        says="source_txs[0]: expected a bitcoin transaction hash",
    )
    t.refused(
        f"{seize} --asset BTC --amount 1 --seized-at 2025-03-01",
        says="--seized-at: expected YYYY-MM-DDTHH:MM:SS[.ffffff]Z, got '2025-03-01'",
    )
    t.refused(
        f"{seize} --asset BTC --amount 1 --seized-at 2999-01-01T00:00:00Z",
        says="seized_at: expected a time no later than",
    )
    t.refused(
        f"{seize} --asset BTC --amount 1",
        says="kind 'seizure.recorded' needs one of treasury-officer",
        code=EXIT_FORBIDDEN,
        key=AUDITOR_KEY,
    )
    # Reading what does not exist is "not found" (3); a field naming it in a write is refused.
    assert "H99" in t.read("history H99", code=EXIT_NOT_FOUND)
    assert "asset: expected" in t.read("holdings --asset DOGE", code=EXIT_INPUT)
    assert "case: no case numbered 'AFM-NONE'" in t.read("case show AFM-NONE", code=EXIT_NOT_FOUND)


def test_movements_the_rules_refuse(runner: CliRunner, database_url: str) -> None:
    t = _ledger(runner, database_url)
    move = f"transfer --case {CASE} --asset BTC --from {BTC_1} --to {BTC_2} --tx {TX_1}"
    t.refused(f"{move} --amount 1.5", says="amount_base: expected at most 1 BTC")
    t.refused(f"{move} --amount 1 --fee 0.0001", says="amount_base: expected at most 1 BTC")
    t.refused(f"{move} --amount 0.1 --fee -1", says="fee: expected no sign")
    t.refused(f"{move.replace(BTC_2, BTC_1)} --amount 0.1", says="to: expected a wallet other")
    t.refused(f"{move} --amount 0.1 --fund", says="--case/--fund: expected exactly one")
    t.refused(f"{move} --amount 0.1 --tx {TX_2[:-1]}", says="tx: expected a bitcoin transaction")
    t.refused(
        f"transfer --fund --asset BTC --amount 0.1 --from {BTC_1} --to {BTC_2} --tx {TX_2}",
        says=f"amount_base: expected at most 0 BTC (what fund/{BTC_1} holds)",
    )
    t.refused(
        f"forfeit --case {CASE} {DECISION} --asset ETH",
        says="case: expected a case holding something to forfeit (asset ethereum:ETH)",
    )
    t.refused(
        f"forfeit --case {CASE} --court C --decision D --date 1.4.2025",
        says="date: expected YYYY-MM-DD, got '1.4.2025'",
    )
    t.refused(
        f"forfeit --case {CASE} {DECISION} --wallet {BTC_P2SH}",
        says="wallet: expected a custody wallet registered with `sequestra wallet add`",
    )
    t.refused(
        f"release --case {CASE} --asset BTC --amount 0.1 --wallet {BTC_1} --to {ETH_1} --tx {TX_2}"
        " --authority Court --order-ref R-1 --date 2025-04-02",
        says="destination: expected a Bitcoin address",
    )


def test_forfeiting_a_released_holding(runner: CliRunner, database_url: str) -> None:
    t = _ledger(runner, database_url)
    released = t.seq(
        f"release --case {CASE} --asset BTC --amount 0.99 --fee 0.01 --wallet {BTC_1}"
        f" --to {BTC_OWNER} --tx {TX_2} --authority Court --order-ref R-1 --date 2025-04-02"
    )
    message = t.refused(
        f"forfeit --case {CASE} {DECISION} --wallet {BTC_1}",
        says="case: expected a case holding something to forfeit",
    )
    assert f"holding H1 (BTC in {BTC_1}) is released since seq {released}" in message
    assert t.json("holdings") == []
    assert t.json("holdings --all")[0]["state"] == "released"


def test_corrections(runner: CliRunner, database_url: str) -> None:
    t = _ledger(runner, database_url)
    seizure = t.size() - 1  # the 1 BTC seized into BTC_1 by `_ledger`
    moved = t.seq(
        f"transfer --case {CASE} --asset BTC --amount 0.6 --from {BTC_1} --to {BTC_3} --tx {TX_1}"
    )
    t.refused(
        f"correct {seizure} --reason wrong",
        says=f"seq: expected at most 0.4 BTC (what case/{CASE}/wallet/{BTC_1} holds)",
    )
    correction = t.seq(f"correct {moved} --reason 'wrong wallet'")
    t.refused(
        f"correct {correction} --reason again", says="seq: expected a movement, not a correction"
    )
    t.refused(
        f"correct {moved} --reason twice",
        says=f"seq: expected an entry not corrected before, got {moved}, already corrected at seq",
    )
    t.refused("correct 2 --reason x", says="seq: expected the seq of a seizure, transfer")
    t.refused("correct 999 --reason x", says="seq: expected the seq of an earlier entry")
    t.seq(f"correct {seizure} --reason 'seized under another case'")
    assert t.json("holdings --all")[0]["state"] == "reversed"


def test_key_problems_keep_their_handling(
    runner: CliRunner, database_url: str, tmp_path: Path
) -> None:
    t = _ledger(runner, database_url)
    wrong = tmp_path / "wrong-passphrase"
    wrong.write_text("not the passphrase")
    seize = f"seize --case {CASE} --asset BTC --amount 1 --wallet {BTC_1}"
    t.refused(seize, says="passphrase", key=(*OFFICER_KEY, "--passphrase-file", str(wrong)))
    t.refused(seize, says=str(tmp_path / "none.key"), key=("--key", str(tmp_path / "none.key")))
