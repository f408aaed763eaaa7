"""The watch step of `sequestra-sandbox demo`: the watcher reads the custody wallets on local
chains, finds the chains and the ledger in agreement, then catches a staged theft.

The sandbox chains start empty and the sample's seizures happened on no chain, so a watcher
pointed at them would report every custody position of the sample as an outflow: a dozen
critical alerts that mean nothing. A real operator's chains hold what the ledger records, so
the step first makes the sandbox chains do the same: regtest coins are sent to the sample's
Bitcoin addresses, and on anvil the sample's ether balances are set and stand-ins for USDT and
USDC, placed at their mainnet addresses, are minted to its addresses. Then a small case,
AFM-2025-DEMO, is seized by real transactions into two custody wallets the sandbox controls
(an address of the stand-in wallet `demo-custody`; an anvil dev account). Watch run 1 finds
nothing to report. The theft: the Bitcoin custody address's coins leave through the stand-in
wallet; a thief sends the Ethereum custody address ether for gas and moves its USDT away.
Watch run 2 raises the alerts. Without anvil, the Ethereum part is skipped (with a note).
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Final, Protocol

from sqlalchemy import Engine

from sequestra.chains.observation import ChainReader
from sequestra.chains.watch.readers import open_readers
from sequestra.chains.watch.reconcile import Key
from sequestra.chains.watch.run import Watcher, WatchResult, expected_balances
from sequestra.cli.common import console
from sequestra.composition import application
from sequestra.config import CustodySettings, WatchSettings
from sequestra.config.bitcoin import BitcoinWatchSettings
from sequestra.config.ethereum import CANONICAL_MULTICALL3_ADDRESS, EthereumWatchSettings
from sequestra.custody import queries as custody_queries
from sequestra.custody import service
from sequestra.custody.amounts import format_base_units
from sequestra.custody.assets import BTC, NATIVE, USDT, AssetRegistry
from sequestra.ledger.db import read_transaction
from sequestra.ledger.keys import SigningKey
from sequestra.ledger.kinds import KEY_ENROLLED
from sequestra.ledger.roles import CASE_OPENED, SEIZURE_RECORDED, WALLET_REGISTERED
from sequestra.ledger.store import Ledger
from sequestra.ledger.timefmt import format_timestamp
from sequestra_sandbox.cases import AGENCY, NETWORKS

RULES = application().rules

DEMO_CASE: Final = "AFM-2025-DEMO"
DEMO_LEGAL_BASIS: Final = (
    "Criminal Code of the Republic of Kazakhstan, art. 214; Code of Criminal Procedure,"
    " art. 161 (arrest of property)"
)
DEMO_DESCRIPTION: Final = (
    "Sandbox case for the watch demo: its custody wallets are controlled by the sandbox,"
    " which stages a theft from them. Fictional."
)
WATCHER_ROLE: Final = "watcher"
BITCOIN_SEIZED_SATS: Final = 150_000_000  # 1.5 BTC
TOKEN_SEIZED_BASE: Final = 250_000 * 10**6  # 250,000 USDT (6 decimals)
THEFT_GAS_WEI: Final = 10**16  # 0.01 ETH the thief sends the custody address to pay gas
MINER_WALLET: Final = "demo-miner"  # created by the stand-in with 101 blocks mined to it
CUSTODY_WALLET: Final = "demo-custody"
THIEF_WALLET: Final = "demo-thief"
FUNDING_BLOCKS: Final = 10  # 111 blocks: 11 spendable coinbases (550 BTC) for the funding
CONFIRMATIONS_MIN: Final = 1
OPERATOR_INDEX: Final = 0  # anvil dev accounts: the sandbox operator (mints the tokens) ...
CUSTODY_INDEX: Final = 5  # ... the Ethereum custody wallet of the demo case ...
THIEF_INDEX: Final = 9  # ... and the thief
ANVIL_CHAIN_ID: Final = 31337
RPC_TIMEOUT_S: Final = 10.0
SATS_PER_BTC: Final = 100_000_000


class WatchDemoError(RuntimeError):
    """A sandbox chain could not be started, funded or driven for the watch demo."""


@dataclass(frozen=True)
class DemoSeizure:
    """A seizure of the demo case, made on-chain before the ledger records it."""

    chain: str
    asset_id: str
    amount_base: int
    wallet: str
    tx: str
    label: str
    controller: str


@dataclass(frozen=True)
class Theft:
    chain: str
    address: str
    asset_id: str
    amount_base: int
    tx: str


class _DemoChain(Protocol):
    chain: str

    def mirror(self, positions: dict[Key, int], registry: AssetRegistry) -> int: ...

    def seize(self) -> DemoSeizure: ...

    def confirm(self) -> None: ...

    def steal(self, seizure: DemoSeizure) -> Theft: ...


# --- Bitcoin ---------------------------------------------------------------------------------


def _btc(sats: int) -> str:
    return f"{sats // SATS_PER_BTC}.{sats % SATS_PER_BTC:08d}"


class _BitcoinDemo:
    """The regtest stand-in, driven as its operator (and a thief) would drive Bitcoin Core."""

    chain = "bitcoin"

    def __init__(self, rpc_url: str, cookie_path: Path) -> None:
        self.rpc_url = rpc_url
        self.cookie_path = cookie_path
        self._credentials = cookie_path.read_text(encoding="ascii").strip()
        for wallet in (CUSTODY_WALLET, THIEF_WALLET):
            self.rpc().createwallet(wallet)
        self._miner_address = str(self.rpc(MINER_WALLET).getnewaddress())
        self.rpc().generatetoaddress(FUNDING_BLOCKS, self._miner_address)

    def rpc(self, wallet: str | None = None) -> Any:
        from bitcoin.rpc import RawProxy  # type: ignore[import-untyped]  # loaded only here

        path = f"/wallet/{wallet}" if wallet else "/"
        url = self.rpc_url.replace("://", f"://{self._credentials}@") + path
        return RawProxy(service_url=url, timeout=RPC_TIMEOUT_S)

    def mirror(self, positions: dict[Key, int], registry: AssetRegistry) -> int:
        """Send each Bitcoin custody address what the ledger says it holds."""
        miner = self.rpc(MINER_WALLET)
        funded = [
            (key[1], amount) for key, amount in sorted(positions.items()) if key[0] == "bitcoin"
        ]
        for address, amount in funded:
            miner.sendtoaddress(address, _btc(amount))
        return len(funded)

    def seize(self) -> DemoSeizure:
        address = str(self.rpc(CUSTODY_WALLET).getnewaddress("", "bech32"))
        tx = str(self.rpc(MINER_WALLET).sendtoaddress(address, _btc(BITCOIN_SEIZED_SATS)))
        label = f"{DEMO_CASE} BTC custody (sandbox wallet {CUSTODY_WALLET})"
        controller = "AFM custody unit (sandbox-controlled)"
        return DemoSeizure(
            "bitcoin", BTC.asset_id, BITCOIN_SEIZED_SATS, address, tx, label, controller
        )

    def confirm(self) -> None:
        self.rpc().generatetoaddress(CONFIRMATIONS_MIN, self._miner_address)

    def steal(self, seizure: DemoSeizure) -> Theft:
        """Spend the custody address's coins to a thief (the wallet holds nothing else)."""
        thief = str(self.rpc(THIEF_WALLET).getnewaddress())
        custody = self.rpc(CUSTODY_WALLET)
        tx = str(custody.sendtoaddress(thief, _btc(seizure.amount_base), "", "", True))
        return Theft("bitcoin", seizure.wallet, seizure.asset_id, seizure.amount_base, tx)

    def settings(self) -> BitcoinWatchSettings:
        return BitcoinWatchSettings(
            rpc_url=self.rpc_url,
            cookie_file=self.cookie_path,
            mode="scan",
            confirmations_min=CONFIRMATIONS_MIN,
            timeout_s=RPC_TIMEOUT_S,
            retry_attempts_max=1,
        )


# --- Ethereum --------------------------------------------------------------------------------


class _EthereumDemo:
    """Anvil with Multicall3 at its canonical address and the ledger's tokens at theirs."""

    chain = "ethereum"

    def __init__(self, rpc_url: str, private_keys: Sequence[str]) -> None:
        from sequestra_sandbox.ethereum import SandboxEthereum  # web3 loads only here

        self.rpc_url = rpc_url
        self._keys = private_keys
        self.operator = SandboxEthereum(rpc_url, private_keys[OPERATOR_INDEX])
        self.operator.place_multicall(CANONICAL_MULTICALL3_ADDRESS)
        self._placed: set[str] = set()

    def _place(self, contract: str, symbol: str) -> None:
        if contract not in self._placed:
            self.operator.place_token(contract, symbol, symbol)
            self._placed.add(contract)

    def mirror(self, positions: dict[Key, int], registry: AssetRegistry) -> int:
        """Give each Ethereum custody address what the ledger says it holds."""
        funded = 0
        for (chain, address, asset_id), amount in sorted(positions.items()):
            if chain != "ethereum":
                continue
            asset = registry.get(asset_id)
            if asset.kind == NATIVE:
                self.operator.set_balance(address, amount)
            else:
                self._place(str(asset.contract), asset.symbol)
                self.operator.mint(str(asset.contract), address, amount)
            funded += 1
        return funded

    def seize(self) -> DemoSeizure:
        from sequestra_sandbox.ethereum import SandboxEthereum

        custody = SandboxEthereum(self.rpc_url, self._keys[CUSTODY_INDEX]).address
        self.operator.set_balance(custody, 0)  # seized ether and tokens sit apart: no ether here
        self._place(str(USDT.contract), USDT.symbol)
        tx = self.operator.mint(str(USDT.contract), custody, TOKEN_SEIZED_BASE)
        label = f"{DEMO_CASE} USDT custody (anvil dev account {CUSTODY_INDEX})"
        controller = "AFM custody unit (sandbox-controlled)"
        return DemoSeizure(
            "ethereum", USDT.asset_id, TOKEN_SEIZED_BASE, custody, tx, label, controller
        )

    def confirm(self) -> None:
        """Nothing to do: anvil mines each transaction at once and the watcher reads latest."""

    def steal(self, seizure: DemoSeizure) -> Theft:
        """The thief pays the custody address's gas, then moves all its USDT to themselves."""
        from sequestra_sandbox.ethereum import SandboxEthereum

        thief = SandboxEthereum(self.rpc_url, self._keys[THIEF_INDEX])
        thief.send_ether(seizure.wallet, THEFT_GAS_WEI)
        holder = SandboxEthereum(self.rpc_url, self._keys[CUSTODY_INDEX])
        tx = holder.transfer(str(USDT.contract), thief.address, seizure.amount_base)
        return Theft("ethereum", seizure.wallet, seizure.asset_id, seizure.amount_base, tx)

    def settings(self) -> EthereumWatchSettings:
        return EthereumWatchSettings(
            rpc_url=self.rpc_url,
            chain_id=ANVIL_CHAIN_ID,
            block="latest",
            timeout_s=RPC_TIMEOUT_S,
            retry_attempts_max=1,
        )


# --- the step --------------------------------------------------------------------------------


@dataclass(frozen=True)
class WatchDemo:
    """What the watch step did and what the watcher reported."""

    chains: tuple[str, ...]
    skipped: str | None
    watcher_enrolled_seq: int | None
    mirrored_positions: int
    seizures: tuple[DemoSeizure, ...]
    case_seqs: tuple[int, ...]
    runs: tuple[WatchResult, ...]
    thefts: tuple[Theft, ...]
    seconds: float

    def caught(self) -> list[Theft]:
        """The thefts a critical alert of the last run names (by transaction)."""
        named = {
            tx.lower()
            for alert in self.runs[-1].alerts
            if alert["severity"] == "critical"
            for tx in alert["txs"]
        }
        return [theft for theft in self.thefts if theft.tx.lower() in named]

    @property
    def ok(self) -> bool:
        """Every run succeeded, the first found nothing, and every theft was caught."""
        return (
            all(run.status == "ok" for run in self.runs)
            and not self.runs[0].alerts
            and len(self.caught()) == len(self.thefts)
        )

    def entries(self) -> int:
        """Entries the step appended: enrolment, the demo case, observations and alerts."""
        runs = [run for run in self.runs if run.status == "ok"]
        enrolled = 0 if self.watcher_enrolled_seq is None else 1
        return enrolled + len(self.case_seqs) + len(runs) + sum(len(r.alerts) for r in runs)

    def to_json(self) -> dict[str, Any]:
        alerts = [alert for run in self.runs for alert in run.alerts]
        severities: dict[str, int] = {}
        for alert in alerts:
            severities[alert["severity"]] = severities.get(alert["severity"], 0) + 1
        return {
            "ok": self.ok,
            "case": DEMO_CASE,
            "chains": list(self.chains),
            "skipped": self.skipped,
            "watcher_enrolled_seq": self.watcher_enrolled_seq,
            "mirrored_positions": self.mirrored_positions,
            "seizures": [
                _seizure_json(s, seq)
                for s, seq in zip(self.seizures, self.seizure_seqs(), strict=True)
            ],
            "runs": [_run_json(run) for run in self.runs],
            "thefts": [vars(theft) for theft in self.thefts],
            "caught": [theft.tx for theft in self.caught()],
            "alerts": [_alert_json(alert) for alert in alerts],
            "alerts_by_severity": severities,
            "observations": sum(1 for run in self.runs if run.observation_seq is not None),
            "entries": self.entries(),
            "seconds": round(self.seconds, 2),
        }

    def seizure_seqs(self) -> tuple[int, ...]:
        """The seizures are the last statements of the demo case's batch."""
        return self.case_seqs[len(self.case_seqs) - len(self.seizures) :]


def _seizure_json(seizure: DemoSeizure, seq: int) -> dict[str, Any]:
    return {
        "seq": seq,
        "chain": seizure.chain,
        "wallet": seizure.wallet,
        "asset": seizure.asset_id,
        "amount_base": str(seizure.amount_base),
        "tx": seizure.tx,
    }


def _run_json(run: WatchResult) -> dict[str, Any]:
    return {
        "status": run.status,
        "reason": run.reason,
        "observation_seq": run.observation_seq,
        "blocks": run.blocks,
        "balances": run.balances_count,
        "changes": run.changes_count,
        "alerts": len(run.alerts),
    }


def _alert_json(alert: dict[str, Any]) -> dict[str, Any]:
    keys = ("seq", "severity", "alert", "chain", "address", "asset", "message", "txs")
    return {key: alert[key] for key in keys}


def run_watch_demo(
    engine: Engine,
    admin: SigningKey,
    officer: SigningKey,
    watcher_key: SigningKey,
    now: datetime,
    directory: Path,
) -> WatchDemo:
    """Mirror the ledger on the sandbox chains, seize into controllable wallets, watch, steal,
    watch again. Every process started here is stopped before it returns.

    Preconditions: the ledger is initialised, `admin` may enrol keys and `officer` is an
    enrolled treasury officer. Raises WatchDemoError when a sandbox chain cannot be started
    or driven, AppendRefused when the ledger refuses a statement. A failed watch run is not
    raised: it is in the result (`ok` is False).
    """
    started = time.monotonic()
    enrolled_seq = ensure_watcher(engine, admin, watcher_key, now)
    with ExitStack() as stack, _sandbox_errors():
        chains, skipped = _open_chains(stack, directory)
        registry = custody_queries.asset_registry(engine)
        positions = _positions(engine)
        mirrored = sum(chain.mirror(positions, registry) for chain in chains)
        seizures = tuple(chain.seize() for chain in chains)
        case_seqs = _record_case(engine, officer, seizures, now)
        for chain in chains:
            chain.confirm()
        watcher = Watcher(engine, RULES, _readers(chains), watcher_key)
        first = watcher.run_once()
        thefts = tuple(chain.steal(s) for chain, s in zip(chains, seizures, strict=True))
        for chain in chains:
            chain.confirm()
        second = watcher.run_once()
    return WatchDemo(
        chains=tuple(chain.chain for chain in chains),
        skipped=skipped,
        watcher_enrolled_seq=enrolled_seq,
        mirrored_positions=mirrored,
        seizures=seizures,
        case_seqs=case_seqs,
        runs=(first, second),
        thefts=thefts,
        seconds=time.monotonic() - started,
    )


@contextmanager
def _sandbox_errors() -> Iterator[None]:
    """Turn the sandbox nodes' and clients' failures into WatchDemoError."""
    from bitcoin.rpc import JSONRPCError
    from web3.exceptions import Web3Exception

    from sequestra_sandbox.anvil import AnvilError
    from sequestra_sandbox.ethereum import SandboxContractError

    try:
        yield
    except (AnvilError, SandboxContractError, JSONRPCError, Web3Exception, OSError) as error:
        raise WatchDemoError(f"{type(error).__name__}: {error}") from error


def _open_chains(stack: ExitStack, directory: Path) -> tuple[list[_DemoChain], str | None]:
    """Start the Bitcoin stand-in, and anvil when it is installed (else say why not)."""
    from sequestra_sandbox.anvil import AnvilNotFoundError, find_anvil, running_anvil
    from sequestra_sandbox.bitcoin import running_bitcoind

    bitcoin = running_bitcoind(directory / "bitcoin", funded_wallet=MINER_WALLET)
    rpc_url, cookie_path = stack.enter_context(bitcoin)
    chains: list[_DemoChain] = [_BitcoinDemo(rpc_url, cookie_path)]
    try:
        binary = find_anvil()
    except AnvilNotFoundError as error:
        return chains, f"Ethereum not watched: anvil is not installed ({error})"
    node = stack.enter_context(running_anvil(binary=binary))
    chains.append(_EthereumDemo(node.rpc_url, node.private_keys))
    return chains, None


def _positions(engine: Engine) -> dict[Key, int]:
    with read_transaction(engine) as connection:
        return expected_balances(connection)


def _readers(chains: Sequence[_DemoChain]) -> list[ChainReader]:
    bitcoin = next((c.settings() for c in chains if isinstance(c, _BitcoinDemo)), None)
    ethereum = next((c.settings() for c in chains if isinstance(c, _EthereumDemo)), None)
    custody = CustodySettings(
        bitcoin_network=NETWORKS["bitcoin"], ethereum_network=NETWORKS["ethereum"]
    )
    return list(open_readers(WatchSettings(bitcoin=bitcoin, ethereum=ethereum), custody))


def ensure_watcher(
    engine: Engine, admin: SigningKey, watcher_key: SigningKey, now: datetime
) -> int | None:
    """Enrol `watcher_key` with role watcher unless it is already; return the enrolment seq."""
    with Ledger(engine, RULES) as ledger:
        record = ledger.authority().records.get(watcher_key.issuer)
        if record is not None and record.active and WATCHER_ROLE in record.roles:
            return None
        body = {
            "public_key": watcher_key.public_key_b64,
            "roles": [WATCHER_ROLE],
            "valid_from": format_timestamp(now),
            "label": "example watcher",
        }
        (receipt,) = ledger.append([RULES.sign(admin, KEY_ENROLLED, body, now)], now)
    return receipt.seq


def _record_case(
    engine: Engine, officer: SigningKey, seizures: Sequence[DemoSeizure], now: datetime
) -> tuple[int, ...]:
    """Register the demo wallets, open the demo case and record its seizures (one batch)."""
    registry = custody_queries.asset_registry(engine)
    statements: list[tuple[str, dict[str, Any]]] = [
        (
            WALLET_REGISTERED,
            service.wallet_body(s.chain, NETWORKS[s.chain], s.wallet, s.controller, s.label),
        )
        for s in seizures
    ]
    opened = service.case_opened_body(
        DEMO_CASE, AGENCY, DEMO_LEGAL_BASIS, description=DEMO_DESCRIPTION
    )
    statements.append((CASE_OPENED, opened))
    for number, seizure in enumerate(seizures, start=1):
        typed = service.SeizureInput(
            case_id=DEMO_CASE,
            asset=seizure.asset_id,
            amount=format_base_units(seizure.amount_base, registry.get(seizure.asset_id).decimals),
            wallet=seizure.wallet,
            seized_at=now,
            seized_from="sandbox staging",
            source_txs=(seizure.tx,),
            external_ref=f"{DEMO_CASE}/P{number}",
        )
        body = service.seizure_body(registry, NETWORKS[seizure.chain], typed)
        statements.append((SEIZURE_RECORDED, body))
    return tuple(receipt.seq for receipt in service.record(engine, RULES, officer, statements, now))


# --- printing --------------------------------------------------------------------------------

SEVERITY_ORDER: Final = ("critical", "warning", "info")
SEVERITY_COLOURS: Final = {"critical": "bold red", "warning": "yellow", "info": "cyan"}


def print_watch(watch: dict[str, Any]) -> None:
    """The watch part of the demo's summary (from `WatchDemo.to_json`)."""
    console.print(
        f"watch: the sandbox chains were funded to hold what the ledger records"
        f" ({watch['mirrored_positions']} custody positions of the sample, whose seizures"
        f" happened on no chain); case {watch['case']} was seized into wallets the sandbox"
        f" controls",
        highlight=False,
    )
    if watch["skipped"]:
        console.print(f"[yellow]note[/]: {watch['skipped']}", highlight=False)
    first, second = watch["runs"]
    console.print(f"watch run 1: {_describe_run(first)}", highlight=False)
    console.print(f"staged theft: {_describe_thefts(watch['thefts'])}", highlight=False)
    console.print(f"watch run 2: {_describe_run(second)}", highlight=False)
    last = watch["runs"][-1]["observation_seq"]
    for alert in (a for a in watch["alerts"] if last is not None and a["seq"] > last):
        colour = SEVERITY_COLOURS.get(alert["severity"], "cyan")
        txs = ", ".join(alert["txs"]) or "none named"
        console.print(
            f"  [{colour}]{alert['severity']}[/] seq {alert['seq']}: {alert['message']}\n"
            f"    transaction: {txs}",
            highlight=False,
        )
    counts = watch["alerts_by_severity"]
    by_severity = ", ".join(f"{s} {counts[s]}" for s in SEVERITY_ORDER if s in counts) or "none"
    console.print(
        f"observations recorded: {watch['observations']}; alerts by severity: {by_severity};"
        f" staged thefts caught: {len(watch['caught'])} of {len(watch['thefts'])}"
        f" ({watch['seconds']} s)",
        highlight=False,
    )


def _describe_run(run: dict[str, Any]) -> str:
    if run["status"] != "ok":
        return f"[red]failed[/]: {run['reason']} (nothing recorded)"
    blocks = ", ".join(f"{b['chain']} block {b['height']}" for b in run["blocks"])
    return (
        f"observation seq {run['observation_seq']}, {run['balances']} balances read at"
        f" {blocks}; {run['alerts']} alert(s)"
    )


def _describe_thefts(thefts: list[dict[str, Any]]) -> str:
    parts = []
    for theft in thefts:
        what = "the coins" if theft["chain"] == "bitcoin" else "the USDT (the thief paid the gas)"
        parts.append(f"{what} left {theft['address']} in {theft['tx']}")
    return "; ".join(parts)
