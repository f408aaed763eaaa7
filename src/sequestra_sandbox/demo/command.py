"""`sequestra-sandbox demo`: a sandbox ledger built from the example keys, holding the sandbox's
sample of custody cases, watched on local chains (where a staged theft is caught), revalued from
local venues, with a State Fund sale, checkpointed, cosigned by a local witness, exported and
verified end to end; then its reports are written to var/reports/ and the dashboard served."""

from __future__ import annotations

import shutil
import socket
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import typer
from rich.panel import Panel
from rich.table import Table
from sqlalchemy import Engine

from sequestra.audit.bundle import Trust, ledger_verifier, verify_bundle
from sequestra.cli.common import console, fail, fail_usage, handled, print_json, state
from sequestra.composition import application
from sequestra.errors import EXIT_CONFLICT
from sequestra.ledger import tree
from sequestra.ledger.checkpoints import (
    create_checkpoint,
    get_checkpoint,
    publish,
)
from sequestra.ledger.db import create_ledger_engine, read_transaction
from sequestra.ledger.errors import AppendRefused
from sequestra.ledger.export import export_bundle
from sequestra.ledger.keys import SigningKey, load_signing_key
from sequestra.ledger.kinds import KEY_ENROLLED, KEY_REVOKED, NOTE_RECORDED
from sequestra.ledger.note import Ed25519Verifier, format_verifier_key
from sequestra.ledger.policy import parse_policy, read_policy
from sequestra.ledger.signer import CheckpointSigner, SignerStore
from sequestra.ledger.statement import SignedStatement
from sequestra.ledger.store import Ledger
from sequestra.ledger.timefmt import format_timestamp
from sequestra.ledger.tlog_proof import TlogProof
from sequestra.ledger.trust import gather_trusted_state
from sequestra.ledger.verify import verify_ledger
from sequestra.ledger.witness import Witness, WitnessState
from sequestra.service.trust import ServiceTrust

RULES = application().rules

EXAMPLE_PASSPHRASE = b"sandbox-example-passphrase"
DEMO_DIRECTORY = Path("var/demo")
POLICY_FILE = DEMO_DIRECTORY / "trust-policy.txt"
SIGNER_STATE = DEMO_DIRECTORY / "signer-state.json"
KEPT_CHECKPOINT = DEMO_DIRECTORY / "witnessed.checkpoint"
DEMO_ORIGIN = "sandbox.sequestra.example/ledger"
WITNESS_NAME = "audit.sandbox.sequestra.example/witness"
ROLES = ("treasury-officer", "approver", "auditor", "watcher", "valuer")
NOTES = (
    "Custody procedures adopted for case AFM-2025-0001.",
    "Hardware wallets sealed in vault B, witnessed by two officers.",
    "Quarterly custody review scheduled with the audit office.",
)


class _Demo:
    """The demo's keys and ledger, and the statements it records."""

    def __init__(self, keys_dir: Path, engine: Engine, now: datetime) -> None:
        def load(name: str) -> SigningKey:
            return load_signing_key(keys_dir / f"{name}.key", EXAMPLE_PASSPHRASE)

        self.ledger_key, self.admin, self.witness_key = (
            load("ledger"),
            load("admin"),
            load("witness"),
        )
        self.officers = {role: load(role) for role in ROLES}
        self.engine, self.now = engine, now
        self.ledger = Ledger(engine, RULES)

    def enrol(self, key: SigningKey, role: str, label: str) -> SignedStatement:
        body = {
            "public_key": key.public_key_b64,
            "roles": [role],
            "valid_from": format_timestamp(self.now),
            "label": label,
        }
        return RULES.sign(self.admin, KEY_ENROLLED, body, self.now)

    def record_history(self) -> str:
        """Enrol the officers, record notes, show a refusal, enrol and revoke a temporary key."""
        officer = self.officers["treasury-officer"]
        self.ledger.append([self.enrol(k, r, f"example {r}") for r, k in self.officers.items()])
        self.ledger.append(
            [RULES.sign(officer, NOTE_RECORDED, {"text": t}, self.now) for t in NOTES[:2]]
        )
        refused = self._refusal(officer)
        spare = SigningKey.generate()
        self.ledger.append([self.enrol(spare, "treasury-officer", "temporary officer")])
        revoke = {"issuer": spare.issuer, "reason": "temporary access ended"}
        self.ledger.append([RULES.sign(self.admin, KEY_REVOKED, revoke, self.now)])
        return refused

    def _refusal(self, officer: SigningKey) -> str:
        """An officer tries to enrol an admin: the ledger refuses and writes nothing."""
        attempt = self.enrol(SigningKey.generate(), "admin", "self-promotion")
        attempt = RULES.sign(officer, KEY_ENROLLED, attempt.body, self.now)
        try:
            self.ledger.append([attempt])
        except AppendRefused as error:
            return str(error)
        raise RuntimeError("the ledger accepted an enrolment from a treasury officer")


def _fresh(directory: Path) -> None:
    shutil.rmtree(directory, ignore_errors=True)
    directory.mkdir(parents=True)


def demo(
    context: typer.Context,
    keys: Path = typer.Option(Path("keys-example"), help="Directory of the example keys."),
    json_output: bool = typer.Option(False, "--json", help="Print the summary as JSON."),
    serve: bool = typer.Option(
        True, "--serve/--no-serve", help="Serve the dashboard and the API afterwards."
    ),
    host: str = typer.Option("127.0.0.1", help="Address the dashboard listens on."),
    port: int = typer.Option(8080, min=1, max=65_535, help="Port the dashboard listens on."),
) -> None:
    """Build a fresh sandbox ledger of sample cases in var/demo/: watch, revalue, sell, witness,
    audit, verify; write the reports to var/reports/, then serve the dashboard (Ctrl-C stops)."""
    # The sandbox and the ledger's set-up tools load only when the demo runs (CLI start-up).
    from sequestra.ledger.ops import init_ledger
    from sequestra.pricing.run import PricingError
    from sequestra_sandbox.cases import generate_sample
    from sequestra_sandbox.demo.custody import record_sample
    from sequestra_sandbox.demo.fund import FundDemoError, run_fund_demo
    from sequestra_sandbox.demo.pricing import run_pricing_demo
    from sequestra_sandbox.demo.serve import write_reports, write_tokens
    from sequestra_sandbox.demo.watch import WatchDemoError, run_watch_demo

    if not (keys / "ledger.key").is_file():
        fail_usage(f"{keys}/ledger.key not found; run from the repository root or pass --keys")
    listener = _reserve(host, port) if serve else None
    _fresh(DEMO_DIRECTORY)
    url = state(context).database_url or f"sqlite:///{DEMO_DIRECTORY / 'ledger.db'}"
    engine = create_ledger_engine(url)
    now = datetime.now(UTC)
    with handled():
        world = _Demo(keys, engine, now)
        init_ledger(
            engine, RULES, DEMO_ORIGIN, [world.admin.public_key_raw], world.ledger_key, now_utc=now
        )
        refused = world.record_history()
        officer = world.officers["treasury-officer"]
        custody = record_sample(engine, officer, generate_sample(), now)
        try:  # before the checkpoints, so the audited bundle holds observations and alerts
            watch = run_watch_demo(
                engine, world.admin, officer, world.officers["watcher"], now, DEMO_DIRECTORY
            )
        except WatchDemoError as error:
            fail(f"the watch step: {error}")
        try:
            pricing = run_pricing_demo(engine, world.officers["valuer"], datetime.now(UTC))
        except PricingError as error:
            fail(f"the pricing step: {error}")
        try:  # a sale of part of a forfeited holding, at prices near the valuation's
            approver = world.officers["approver"]
            fund = run_fund_demo(
                engine,
                world.admin,
                officer,
                approver,
                pricing.moved or pricing.now,
                datetime.now(UTC),
            )
        except FundDemoError as error:
            fail(f"the State Fund step: {error}")
        publication = _checkpoint_with_witness(world)
        proof_path = _write_proof(engine, 3)
        witness_vkey = _witness(world)[1]
        bundle = export_bundle(
            engine,
            DEMO_DIRECTORY / "bundle",
            witness_vkeys=[witness_vkey],
            sections=application().bundle_sections,
        )
        audit = _audit(bundle.directory)
        policy = read_policy(POLICY_FILE)
        trust = gather_trusted_state(policy, [(str(KEPT_CHECKPOINT), KEPT_CHECKPOINT.read_bytes())])
        result = verify_ledger(engine, RULES, world.ledger_key.public_key_raw, trust=trust)
        records = world.ledger.authority().records
        world.ledger.close()
        reports = [written.to_json() for written in write_reports(engine, policy)]
        tokens = write_tokens(engine, DEMO_DIRECTORY / "tokens", datetime.now(UTC))
    summary: dict[str, Any] = {
        "database": url,
        "origin": DEMO_ORIGIN,
        "entries": result.size,
        "keys": len(records),
        "revoked": sum(1 for r in records.values() if not r.active),
        "refused_example": refused,
        "checkpoint": publication,
        "proof": str(proof_path),
        "bundle": str(bundle.directory),
        "verify": result.to_json(),
        "audit": audit,
        "custody": custody.to_json(),
        "watch": watch.to_json(),
        "pricing": pricing.to_json(),
        "fund": fund.to_json(),
        "reports": reports,
        "tokens": tokens,
    }
    if json_output:
        print_json(summary)
    else:
        _print_summary(summary, records.values())
    failed = not result.ok or not publication["published"] or not audit["ok"] or not watch.ok
    if failed or any(report["file"] is None for report in reports):
        raise typer.Exit(1)
    if listener is not None:
        from sequestra_sandbox.demo.serve import serve_dashboard

        # The server judges by the auditor's policy and the checkpoint they kept (the demo's
        # witness is offline once the demo is built).
        served = ServiceTrust(
            policy,
            SignerStore(SIGNER_STATE),
            (KEPT_CHECKPOINT,),
            fetch_witnesses=False,
        )
        serve_dashboard(engine, listener, tokens, world.ledger_key.public_key_raw, served)


def _reserve(host: str, port: int) -> socket.socket:
    """The dashboard's address, bound before any work (exits 4 when it is taken)."""
    from sequestra_sandbox.demo.serve import PortUnavailable, reserve_address

    try:
        return reserve_address(host, port)
    except PortUnavailable as error:
        fail(str(error), EXIT_CONFLICT)


def _witness(world: _Demo) -> tuple[Witness, str]:
    logs = {DEMO_ORIGIN: [Ed25519Verifier(DEMO_ORIGIN, world.ledger_key.public_key_raw)]}
    state_dir = DEMO_DIRECTORY / "witness"
    witness = Witness(WITNESS_NAME, world.witness_key.private_key, logs, WitnessState(state_dir))
    return witness, witness.verifier_key


def _policy_text(world: _Demo, witness_vkey: str, url: str | None) -> str:
    """The demo's trust policy: the ledger's key, the audit office's witness, quorum of it."""
    ledger_vkey = format_verifier_key(DEMO_ORIGIN, 0x01, world.ledger_key.public_key_raw)
    where = f" {url}" if url else ""
    return (
        "# The demo's trust policy (docs/auditor-guide.md): who signs, who cosigns, how many.\n"
        f"log {ledger_vkey}\n"
        f"witness {WITNESS_NAME} {witness_vkey}{where}\n"
        f"quorum {WITNESS_NAME}\n"
    )


def _checkpoint_with_witness(world: _Demo) -> dict[str, object]:
    """Checkpoint, have the local audit-office witness cosign, grow, and do it again; keep
    the trust policy (the witness offline once the demo is built) and the last cosigned
    checkpoint an auditor would keep."""
    witness, vkey = _witness(world)
    from sequestra.service.witness_app import witness_in_thread

    store = SignerStore(SIGNER_STATE)
    with witness_in_thread(witness) as url:
        policy = parse_policy(_policy_text(world, vkey, url), "demo policy")
        signer = CheckpointSigner(world.ledger_key, store, policy)
        first, _ = create_checkpoint(world.engine, signer)
        publish(world.engine, first, signer)
        officer = world.officers["treasury-officer"]
        world.ledger.append([RULES.sign(officer, NOTE_RECORDED, {"text": NOTES[2]}, world.now)])
        second, _ = create_checkpoint(world.engine, signer)
        publication = publish(world.engine, second, signer)
    POLICY_FILE.write_text(_policy_text(world, vkey, None), encoding="utf-8")
    KEPT_CHECKPOINT.write_bytes(publication.checkpoint.note)
    return publication.to_json()


def _audit(directory: Path) -> dict[str, Any]:
    """What an auditor does offline: check the bundle against the policy and the checkpoint
    they kept, nothing the operator says."""
    policy = read_policy(POLICY_FILE)
    trust = Trust(
        ledger_verifier(policy.ledger.verifier_key),
        trusted_checkpoint=KEPT_CHECKPOINT.read_bytes(),
        policy=policy,
    )
    verdict: dict[str, Any] = verify_bundle(directory, trust).to_json()
    verdict["command"] = (
        f"sequestra-audit bundle {directory} --policy {POLICY_FILE}"
        f" --trusted-checkpoint {KEPT_CHECKPOINT}"
    )
    return verdict


def _write_proof(engine: Engine, seq: int) -> Path:
    with read_transaction(engine) as connection:
        stored = get_checkpoint(connection)
        if stored is None:
            raise RuntimeError("the demo made no checkpoint")
        hashes = tree.inclusion_proof(connection, seq, stored.size)
    path = DEMO_DIRECTORY / f"entry-{seq}.tlog-proof"
    path.write_bytes(TlogProof(index=seq, hashes=tuple(hashes), checkpoint=stored.note).format())
    return path


def _print_summary(summary: dict[str, Any], records: Any) -> None:
    table = Table("key", "roles", "enrolled at seq", "revoked at seq")
    for record in sorted(records, key=lambda r: r.enrolled_seq):
        revoked = "" if record.revoked_seq is None else str(record.revoked_seq)
        table.add_row(record.label, ", ".join(record.roles), str(record.enrolled_seq), revoked)
    console.print(table)
    from sequestra_sandbox.demo.custody import print_custody

    print_custody(summary["custody"])
    from sequestra_sandbox.demo.watch import print_watch

    print_watch(summary["watch"])
    from sequestra_sandbox.demo.pricing import print_pricing

    print_pricing(summary["pricing"])
    from sequestra_sandbox.demo.fund import print_fund

    print_fund(summary["fund"])
    from sequestra_sandbox.demo.serve import print_reports

    print_reports(summary["reports"])
    console.print(f"refused as expected: {summary['refused_example']}")
    console.print(f"audit it yourself: {summary['audit']['command']}")
    checkpoint = summary["checkpoint"]
    verdict = summary["verify"]
    status = (
        f"[green]verified[/], {verdict['summary']}"
        if verdict["ok"]
        else f"[red]FAILED[/] {verdict}"
    )
    witnessed = ", ".join(checkpoint["cosigned_by"]) or "nobody"
    console.print(
        Panel(
            f"ledger {summary['origin']}\n"
            f"{summary['entries']} entries, {summary['keys']} keys ({summary['revoked']} revoked):"
            f" {status}\n"
            f"checkpoint size {checkpoint['size']}, root {checkpoint['root'][:16]}...\n"
            f"cosigned by {witnessed}\n"
            f"inclusion proof: {summary['proof']}\n"
            f"audit bundle:    {summary['bundle']}"
            f" (offline audit: {'passed' if summary['audit']['ok'] else 'FAILED'})\n"
            f"database:        {summary['database']}\n"
            f"next: sequestra --database-url {summary['database']} log",
            title="Sequestra demo",
        )
    )
