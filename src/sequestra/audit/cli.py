"""`sequestra-audit`: verify a ledger's export bundle, proofs and notes offline.

Exit status: 0 verified, 1 not verified, 2 usage error or unreadable input. `--json` prints
one verdict object on standard output; otherwise a human summary. Imports only the standard
library, `cryptography` and the pure ledger modules: an auditor can read all of it.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, NoReturn, TextIO

from sequestra.audit.anchor import (
    BITCOIN_TRANSACTION_BYTES_MAX,
    check_bitcoin_anchor,
    check_ethereum_anchor,
)
from sequestra.audit.bundle import (
    ENTRY_FILE_BYTES_MAX,
    NOTE_BYTES_MAX,
    TLOG_PROOF_BYTES_MAX,
    AuditUsageError,
    BundleVerdict,
    NoteVerdict,
    ProofVerdict,
    Trust,
    bundle_ledger_key,
    ledger_verifier,
    note_verifier,
    read_auditor_file,
    read_key_argument,
    verify_bundle,
    verify_consistency_files,
    verify_inclusion_file,
    verify_note_file,
    witness_verifier,
)
from sequestra.audit.valuation import rederive
from sequestra.errors import EXIT_INPUT, EXIT_INTEGRITY, EXIT_OK, SequestraError, exit_code
from sequestra.ledger import canonical
from sequestra.ledger.policy import PolicyError, TrustPolicy, read_policy

# The same codes as `sequestra` (sequestra.errors): not verified is an integrity failure.
EXIT_NOT_VERIFIED, EXIT_USAGE = EXIT_INTEGRITY, EXIT_INPUT
CONSISTENCY_FILE_BYTES_MAX = 64 * 1024
ANCHOR_TX_BYTES_MAX = 256 * 1024
PROGRESS_INTERVAL_ENTRIES = 16_384


class _Parser(argparse.ArgumentParser):
    """An ArgumentParser that raises instead of exiting, so main() can answer in JSON."""

    def error(self, message: str) -> NoReturn:
        raise AuditUsageError(message)


def build_parser() -> argparse.ArgumentParser:
    """Return the argument parser of `sequestra-audit`."""
    parser = _Parser(
        prog="sequestra-audit",
        description="Verify a sequestra ledger offline, trusting nothing the operator says.",
    )
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    bundle = commands.add_parser("bundle", help="verify an export bundle directory")
    bundle.add_argument("directory", type=Path, metavar="DIR")
    valuation = commands.add_parser(
        "valuation",
        help="verify a bundle, then re-derive one recorded valuation's prices from its quotes",
    )
    valuation.add_argument("directory", type=Path, metavar="DIR")
    valuation.add_argument("seq", type=int, metavar="SEQ", help="the valuation's entry")
    _bundle_options(bundle)
    _bundle_options(valuation)
    proof = commands.add_parser("proof", help="verify an entry's inclusion proof")
    proof.add_argument("entry_file", type=Path, metavar="ENTRY_FILE")
    proof.add_argument("proof_file", type=Path, metavar="PROOF_FILE")
    proof.add_argument("--vkey", required=True, help="the ledger's verifier key")
    consistency = commands.add_parser("consistency", help="verify a consistency proof")
    consistency.add_argument("old_checkpoint", type=Path, metavar="OLD_CHECKPOINT")
    consistency.add_argument("new_checkpoint", type=Path, metavar="NEW_CHECKPOINT")
    consistency.add_argument("proof_file", type=Path, metavar="PROOF_FILE")
    consistency.add_argument("--vkey", required=True, help="the ledger's verifier key")
    note = commands.add_parser("note", help="verify any C2SP signed note")
    note.add_argument("note_file", type=Path, metavar="FILE")
    note.add_argument("--vkey", action="append", required=True, help="a verifier key; repeatable")
    anchor = commands.add_parser("anchor", help="verify an Ethereum or Bitcoin anchor")
    anchor.add_argument("raw_tx_file", type=Path, metavar="RAW_TX_FILE")
    anchor.add_argument("checkpoint_file", type=Path, metavar="CHECKPOINT_FILE")
    anchor.add_argument("--vkey", required=True, help="the ledger's verifier key")
    anchor.add_argument("--tx-hash", help="the transaction hash the operator recorded")
    anchor.add_argument("--sender", help="the operator's published anchoring account")
    anchor.add_argument("--chain-id", type=int, help="the chain the anchor must be on (1)")
    anchor.add_argument(
        "--chain", choices=("ethereum", "bitcoin"), default="ethereum", help="(ethereum)"
    )
    anchor.add_argument("--txid", help="bitcoin: the txid the operator recorded")
    for command in (bundle, valuation, proof, consistency, note, anchor):
        command.add_argument("--json", action="store_true", help="print a JSON verdict")
    return parser


def _bundle_options(command: argparse.ArgumentParser) -> None:
    command.add_argument(
        "--vkey", help="the ledger's verifier key (string or file), from a channel you trust"
    )
    command.add_argument(
        "--witness-vkey",
        action="append",
        default=[],
        metavar="VKEY",
        help="a witness's cosignature verifier key (string or file); repeatable",
    )
    command.add_argument(
        "--require-witness",
        action="append",
        default=[],
        metavar="NAME",
        help="fail unless this witness cosigned the bundle's checkpoint; repeatable",
    )
    command.add_argument(
        "--policy",
        type=Path,
        metavar="FILE",
        help="the trust policy (ledger key, witnesses, quorum): fail unless the bundle's"
        " checkpoint carries the quorum of valid cosignatures",
    )
    command.add_argument(
        "--trusted-checkpoint",
        type=Path,
        metavar="FILE",
        help="a checkpoint you kept from an earlier audit (detects rollback and fork)",
    )
    command.add_argument(
        "--workers",
        type=int,
        default=os.cpu_count() or 1,
        help="processes that check signatures of large bundles (default: one per core)",
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Run `sequestra-audit`; returns the exit status (0 verified, 1 not, 2 usage)."""
    arguments = list(sys.argv[1:] if argv is None else argv)
    json_output = "--json" in arguments
    try:
        options = build_parser().parse_args(arguments)
        with canonical.standard_library_encoder():  # trust the standard library alone
            return _HANDLERS[options.command](options)
    except SequestraError as error:
        usage = isinstance(error, AuditUsageError)
        if json_output:
            _print_json({"ok": False, "reason": str(error), "usage_error": usage})
        else:
            print(f"sequestra-audit: error: {error}", file=sys.stderr)
        return exit_code(error)


# --- bundle ---------------------------------------------------------------------------------


def _read_policy(path: Path) -> TrustPolicy:
    try:
        return read_policy(path)
    except PolicyError as error:
        raise AuditUsageError(f"--policy: {error}") from error


def _trust(options: argparse.Namespace) -> Trust:
    directory: Path = options.directory
    policy = None if options.policy is None else _read_policy(options.policy)
    if options.vkey is None and policy is not None:
        vkey, from_bundle = policy.ledger.verifier_key, False
    elif options.vkey is None:
        if not directory.is_dir():
            raise AuditUsageError(f"{directory}: not a directory")
        vkey, from_bundle = bundle_ledger_key(directory), True
    else:
        vkey, from_bundle = read_key_argument(options.vkey, "--vkey"), False
    witnesses = tuple(
        witness_verifier(read_key_argument(text, "--witness-vkey")) for text in options.witness_vkey
    )
    trusted = None
    if options.trusted_checkpoint is not None:
        trusted = read_auditor_file(
            options.trusted_checkpoint, NOTE_BYTES_MAX, "--trusted-checkpoint"
        )
    trust = Trust(
        ledger_verifier(vkey, "keys/ledger.vkey" if from_bundle else "--vkey"),
        witnesses,
        tuple(options.require_witness),
        trusted,
        from_bundle,
        policy,
    )
    if from_bundle and not options.json:
        print(f"WARNING: {_TRUST_WARNING}", file=sys.stderr)
    return trust


def _verified(options: argparse.Namespace) -> BundleVerdict:
    with _Progress(sys.stderr) as progress:
        callback = progress.update if progress.shown else None
        return verify_bundle(options.directory, _trust(options), callback, options.workers)


def _bundle(options: argparse.Namespace) -> int:
    verdict = _verified(options)
    if options.json:
        _print_json(verdict.to_json())
    else:
        _print_bundle(options.directory, verdict)
    return EXIT_OK if verdict.ok else EXIT_NOT_VERIFIED


def _valuation(options: argparse.Namespace) -> int:
    """Verify the bundle, then re-derive the valuation at SEQ from its quotes alone."""
    verdict = _verified(options)
    if not verdict.ok:
        if options.json:
            _print_json({"ok": False, "bundle": verdict.to_json(), "valuation": None})
        else:
            _print_bundle(options.directory, verdict)
        return EXIT_NOT_VERIFIED
    size = verdict.size or 0
    if not 0 <= options.seq < size:
        raise AuditUsageError(f"SEQ: expected 0..{size - 1}, got {options.seq}")
    found = rederive(options.directory, options.seq)
    if options.json:
        _print_json({"ok": found.ok, "bundle": verdict.to_json(), "valuation": found.to_json()})
    else:
        state = "RE-DERIVED" if found.ok else "NOT RE-DERIVED"
        print(
            f"{state} valuation {found.seq} (cutoff {found.cutoff}) from {found.quotes} quotes"
            f" in quotes/{found.quotes_sha256}.json"
        )
        for price in found.prices:
            derived = price["derived"] or {}
            where = f"{derived.get('basis')}, {derived.get('market')}"
            print(f"  {price['asset']}: {derived.get('price_usd')} USD, level"
                  f" {derived.get('level')}, {where}")  # fmt: skip
        for difference in found.differences:
            print(f"  DIFFERS: {difference}")
    return EXIT_OK if found.ok else EXIT_NOT_VERIFIED


_TRUST_WARNING = (
    "no --vkey: the ledger key is read from the bundle itself, so this checks only that the"
    " bundle is self-consistent"
)


def _print_bundle(directory: Path, verdict: BundleVerdict) -> None:
    for warning in verdict.warnings:
        print(f"warning: {warning}")
    if not verdict.ok:
        where = f"seq {verdict.first_bad_seq}: " if verdict.first_bad_seq is not None else ""
        print(f"NOT VERIFIED {directory}: {where}{verdict.reason}")
        return
    print(f"VERIFIED {directory}: {verdict.size} entries, root {verdict.root}")
    sizes = sorted(set(verdict.checkpoints_checked))
    print(f"  checkpoints checked: {len(sizes)} (sizes {', '.join(map(str, sizes))})")
    for size, names in sorted(verdict.cosigned_by.items()):
        print(f"  checkpoint {size} cosigned by: {', '.join(names) or 'no given witness'}")
    print(f"  keep {directory / 'checkpoint'} for your next audit (--trusted-checkpoint)")


class _Progress:
    """Entry counts on a terminal's standard error; nothing when it is not a terminal."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.shown = stream.isatty()
        self._last = -PROGRESS_INTERVAL_ENTRIES

    def __enter__(self) -> _Progress:
        return self

    def __exit__(self, *_exc: object) -> None:
        if self.shown and self._last >= 0:
            self.stream.write("\r\x1b[K")
            self.stream.flush()

    def update(self, done: int, total: int) -> None:
        if done - self._last < PROGRESS_INTERVAL_ENTRIES and done != total:
            return
        self._last = done
        self.stream.write(f"\rchecking entries: {done}/{total}")
        self.stream.flush()


# --- proof, consistency, note ---------------------------------------------------------------


def _proof(options: argparse.Namespace) -> int:
    ledger = ledger_verifier(read_key_argument(options.vkey, "--vkey"))
    entry = read_auditor_file(options.entry_file, ENTRY_FILE_BYTES_MAX, "ENTRY_FILE")
    proof = read_auditor_file(options.proof_file, TLOG_PROOF_BYTES_MAX, "PROOF_FILE")
    verdict = verify_inclusion_file(entry, proof, ledger)
    return _report_proof(options, verdict, _describe_inclusion)


def _describe_inclusion(details: dict[str, Any]) -> list[str]:
    return [
        f"VERIFIED: entry {details['seq']} (leaf {details['leaf_hash']}) is in the checkpoint"
        f" of size {details['size']}, root {details['root']}, signed by the ledger key",
        "  the statement's own signature is not checked here: verify a bundle for that",
    ]


def _consistency(options: argparse.Namespace) -> int:
    ledger = ledger_verifier(read_key_argument(options.vkey, "--vkey"))
    old = read_auditor_file(options.old_checkpoint, NOTE_BYTES_MAX, "OLD_CHECKPOINT")
    new = read_auditor_file(options.new_checkpoint, NOTE_BYTES_MAX, "NEW_CHECKPOINT")
    proof = read_auditor_file(options.proof_file, CONSISTENCY_FILE_BYTES_MAX, "PROOF_FILE")
    verdict = verify_consistency_files(old, new, proof, ledger)
    return _report_proof(options, verdict, _describe_consistency)


def _describe_consistency(details: dict[str, Any]) -> list[str]:
    return [
        f"VERIFIED: the checkpoint of {details['new_size']} (root {details['new_root']})"
        f" extends the one of {details['old_size']} (root {details['old_root']})"
    ]


def _report_proof(
    options: argparse.Namespace,
    verdict: ProofVerdict,
    describe: Callable[[dict[str, Any]], list[str]],
) -> int:
    if options.json:
        _print_json(verdict.to_json())
    elif verdict.ok:
        print("\n".join(describe(verdict.details)))
    else:
        print(f"NOT VERIFIED: {verdict.reason}")
    return EXIT_OK if verdict.ok else EXIT_NOT_VERIFIED


def _note(options: argparse.Namespace) -> int:
    verifiers = [note_verifier(read_key_argument(text, "--vkey")) for text in options.vkey]
    data = read_auditor_file(options.note_file, NOTE_BYTES_MAX, "FILE")
    verdict = verify_note_file(data, verifiers)
    if options.json:
        _print_json(verdict.to_json())
    else:
        _print_note(verdict)
    return EXIT_OK if verdict.ok else EXIT_NOT_VERIFIED


def _print_note(verdict: NoteVerdict) -> None:
    if verdict.text is not None:
        sys.stdout.write(verdict.text)
    if verdict.ok:
        print(f"VERIFIED by {', '.join(verdict.verified_by)}")
    else:
        print(f"NOT VERIFIED: {verdict.reason}")
    if verdict.unknown_signers:
        print(f"  also signed by keys not given: {', '.join(verdict.unknown_signers)}")


def _anchor(options: argparse.Namespace) -> int:
    if options.chain == "bitcoin":
        return _anchor_bitcoin(options)
    if options.txid is not None:
        raise AuditUsageError("--txid: only with --chain bitcoin (use --tx-hash)")
    vkey = read_key_argument(options.vkey, "--vkey")
    raw_tx = read_auditor_file(options.raw_tx_file, ANCHOR_TX_BYTES_MAX, "RAW_TX_FILE")
    note = read_auditor_file(options.checkpoint_file, NOTE_BYTES_MAX, "CHECKPOINT_FILE")
    try:
        verdict = check_ethereum_anchor(
            raw_tx,
            note,
            vkey,
            expected_tx_hash=options.tx_hash,
            expected_sender=options.sender,
            expected_chain_id=options.chain_id,
        )
    except ValueError as error:
        raise AuditUsageError(f"--vkey: {error}") from error
    if options.json:
        _print_json(verdict.to_json())
    elif verdict.ok:
        print(
            f"VERIFIED: transaction {verdict.tx_hash} from {verdict.sender} anchors"
            f" {verdict.origin} at size {verdict.size}"
        )
        if options.tx_hash is None and options.sender is None:
            print("  pass --tx-hash or --sender to pin the transaction itself")
    else:
        print(f"NOT VERIFIED: {verdict.reason}")
    return EXIT_OK if verdict.ok else EXIT_NOT_VERIFIED


def _anchor_bitcoin(options: argparse.Namespace) -> int:
    for flag, value in (("--tx-hash", options.tx_hash), ("--sender", options.sender)):
        if value is not None:
            raise AuditUsageError(f"{flag}: only with --chain ethereum")
    if options.chain_id is not None:
        raise AuditUsageError("--chain-id: only with --chain ethereum")
    vkey = read_key_argument(options.vkey, "--vkey")
    raw_limit = 2 * BITCOIN_TRANSACTION_BYTES_MAX + 16  # hex text, a prefix and a newline
    raw_tx = read_auditor_file(options.raw_tx_file, raw_limit, "RAW_TX_FILE")
    note = read_auditor_file(options.checkpoint_file, NOTE_BYTES_MAX, "CHECKPOINT_FILE")
    try:
        verdict = check_bitcoin_anchor(raw_tx, note, vkey, expected_txid=options.txid)
    except ValueError as error:
        raise AuditUsageError(f"--vkey: {error}") from error
    if options.json:
        _print_json(verdict.to_json())
    elif verdict.ok:
        print(
            f"VERIFIED: bitcoin transaction {verdict.tx_hash} anchors {verdict.origin}"
            f" at size {verdict.size}"
        )
        if options.txid is None:
            print("  pass --txid to pin the transaction itself")
    else:
        print(f"NOT VERIFIED: {verdict.reason}")
    return EXIT_OK if verdict.ok else EXIT_NOT_VERIFIED


def _print_json(value: dict[str, Any]) -> None:
    print(json.dumps(value, indent=2, sort_keys=True))


_HANDLERS: dict[str, Callable[[argparse.Namespace], int]] = {
    "bundle": _bundle,
    "valuation": _valuation,
    "anchor": _anchor,
    "proof": _proof,
    "consistency": _consistency,
    "note": _note,
}


if __name__ == "__main__":
    sys.exit(main())
