"""A ledger driven through the `sequestra` command as treasury staff drive it.

`Treasury.create` makes the ledger with the example keys (keys-example/) and enrolls the
treasury officer and an auditor. Commands are written as on a shell; `write` signs with the
officer's key; `refused` runs a write that must exit 2, name a field and leave the ledger as
it was.
"""

from __future__ import annotations

import json
import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from typer.testing import CliRunner

from sequestra.errors import EXIT_INPUT
from sequestra.ledger.db import create_ledger_engine
from sequestra.ledger.tables import ENTRY_TABLE
from tests.cli.conftest import run

ROOT = Path(__file__).resolve().parents[2]
KEYS = ROOT / "keys-example"
OFFICER_KEY = ("--key", str(KEYS / "treasury-officer.key"))
ADMIN_KEY = ("--key", str(KEYS / "admin.key"))
AUDITOR_KEY = ("--key", str(KEYS / "auditor.key"))

CASE = "AFM-2025-0001"
BTC_1 = "bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4"
BTC_2 = "bc1qrp33g0q5c5txsp9arysrx4k6zdkfs4nce4xj0gdcccefvpysxf3qccfmv3"
BTC_3 = "bc1p0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7vqzk5jj0"
BTC_OWNER = "1BvBMSEYstWetqTFn5Au4m4GFg7xJaNVN2"
BTC_P2SH = "3J98t1WpEZ73CNmQviecrnyiWrnqRhWNLy"
ETH_1 = "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed"
ETH_2 = "0xfB6916095ca1df60bB79Ce92cE3Ea74c37c5d359"
ETH_OWNER = "0xdbF03B407c01E7cD3CBea99509d93f8DDDC8C6FB"
BTC_REGTEST = "bcrt1qw508d6qejxtdg4y5r3zarvary0c5xw7kygt080"
TX_1 = "ab" * 32
TX_2 = "cd" * 32
TX_3 = "ef" * 32
ETH_TX_1 = "0x" + "12" * 32
ETH_TX_2 = "0x" + "34" * 32


@dataclass
class Treasury:
    runner: CliRunner
    url: str
    config: Path | None = None

    @classmethod
    def create(cls, runner: CliRunner, url: str, config: Path | None = None) -> Treasury:
        """An initialised ledger with the officer and the auditor enrolled (3 entries)."""
        treasury = cls(runner, url, config)
        treasury.run(
            "init",
            "--origin",
            "treasury.sequestra.example/log",
            "--admin",
            str(KEYS / "admin.pub"),
            "--ledger-key",
            str(KEYS / "ledger.key"),
        )
        for name, role in (("treasury-officer", "treasury-officer"), ("auditor", "auditor")):
            treasury.run("keys", "enroll", str(KEYS / f"{name}.pub"), "--role", role, *ADMIN_KEY)
        return treasury

    def run(self, *args: str, code: int = 0, stdin: str | None = None) -> str:
        config = ("--config", str(self.config)) if self.config else ()
        return run(self.runner, self.url, *config, *args, code=code, stdin=stdin)

    def read(self, line: str, code: int = 0) -> str:
        """Run a command written as on a shell (`holdings --case X`) and return its output."""
        return self.run(*shlex.split(line), code=code)

    def json(self, line: str) -> Any:
        return json.loads(self.read(line + " --json"))

    def write(self, line: str, key: tuple[str, ...] = OFFICER_KEY) -> str:
        """Run a write signed with `key` (the treasury officer's by default)."""
        return self.run(*shlex.split(line), *key)

    def seq(self, line: str) -> int:
        """Run a write signed by the officer and return the seq it printed."""
        out = " ".join(self.write(line).split())
        return int(out.split(" at seq ")[1].split()[0].rstrip(":"))

    def refused(
        self,
        line: str,
        says: str,
        key: tuple[str, ...] = OFFICER_KEY,
        code: int = EXIT_INPUT,
    ) -> str:
        """Run a write that must exit with `code` (input refused, 2) with an error that says
        `says` (e.g. the field and `: expected`), and check that nothing was recorded.
        Returns the message, unwrapped.
        """
        before = self.size()
        out = " ".join(self.run(*shlex.split(line), *key, code=code).split())
        assert out.startswith("error: "), out
        assert says in out, out
        assert self.size() == before
        return out

    def size(self) -> int:
        engine = create_ledger_engine(self.url)
        try:
            with engine.connect() as connection:
                count = connection.execute(select(func.count()).select_from(ENTRY_TABLE))
                return int(count.scalar_one())
        finally:
            engine.dispose()

    def open_case(self, case: str = CASE) -> int:
        return self.seq(f"case open {case} --agency AFM --basis 'Art. 94 Sr'")

    def add_wallet(self, address: str, chain: str, label: str) -> int:
        return self.seq(f"wallet add {address} --chain {chain} --label {label}")

    def seize(self, amount: str, wallet: str, asset: str = "BTC", case: str = CASE) -> int:
        return self.seq(f"seize --case {case} --asset {asset} --amount {amount} --wallet {wallet}")
