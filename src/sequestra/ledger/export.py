"""Export bundles: everything an auditor needs to verify the ledger offline.

Layout (docs/auditor-guide.md): `bundle.json`, `entries.jsonl` (one entry's exact bytes a
line), `checkpoint` and `checkpoints/<size>` (signed, with cosignatures), the C2SP
tlog-tiles tree (`tile/<L>/<N>`, `tile/entries/<N>`), `keys/` (the ledger's and the
witnesses' verifier keys, the enrolled issuers), and what the layers above add through
`sections` (the composition passes pricing's `quotes/`, which re-derive each valuation).
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import Connection, Engine, select

from sequestra.ledger.canonical import parse_json
from sequestra.ledger.checkpoints import get_checkpoint, ledger_origin, list_checkpoints
from sequestra.ledger.db import read_transaction
from sequestra.ledger.errors import LedgerStateError
from sequestra.ledger.keys import decode_public_key
from sequestra.ledger.note import format_verifier_key
from sequestra.ledger.projection import load_authority
from sequestra.ledger.tables import ENTRY_TABLE
from sequestra.ledger.tiles import TILE_WIDTH, encode_entry_bundle, entry_bundle_path, write_tiles
from sequestra.ledger.timefmt import format_timestamp
from sequestra.ledger.tree import DatabaseNodeReader

BUNDLE_FORMAT = "sequestra-bundle/v1"
READ_CHUNK = 5_000
ProgressCallback = Callable[[int, int], None]
# Writes a part of the bundle that a layer above the ledger owns, for the entries below
# the size given; returns how many files it wrote.
BundleSection = Callable[[Connection, Path, int], int]


@dataclass(frozen=True)
class ExportSummary:
    directory: Path
    size: int
    root_hex: str
    checkpoints: int
    tiles: int

    def to_json(self) -> dict[str, object]:
        return {
            "directory": str(self.directory),
            "size": self.size,
            "root": self.root_hex,
            "checkpoints": self.checkpoints,
            "tiles": self.tiles,
        }


def ledger_verifier_key(connection: Connection) -> str:
    """Return the C2SP verifier key string of the ledger key named by the genesis."""
    data = connection.execute(select(ENTRY_TABLE.c.entry).where(ENTRY_TABLE.c.seq == 0)).scalar()
    if data is None:
        raise LedgerStateError("the ledger has no genesis entry")
    body = parse_json(bytes(data))["statement"]["body"]
    return format_verifier_key(
        ledger_origin(connection), 0x01, decode_public_key(body["ledger_key"])
    )


def export_bundle(
    engine: Engine,
    out: Path,
    size: int | None = None,
    witness_vkeys: Sequence[str] = (),
    progress: ProgressCallback | None = None,
    sections: Sequence[BundleSection] = (),
) -> ExportSummary:
    """Write the bundle of the checkpoint at `size` (default: the latest) to `out`, with
    each of `sections`.

    Written to a temporary directory beside `out` and renamed at the end, so a failure
    leaves no half bundle. Raises LedgerStateError when there is no such checkpoint or `out`
    already exists.
    """
    if out.exists():
        raise LedgerStateError(f"{out} exists; choose a new directory for the bundle")
    staging = out.with_name(out.name + ".partial")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    try:
        with read_transaction(engine) as connection:
            summary = _write(connection, staging, size, witness_vkeys, progress)
            for section in sections:
                section(connection, staging, summary.size)
        os.replace(staging, out)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return ExportSummary(out, summary.size, summary.root_hex, summary.checkpoints, summary.tiles)


def _write(
    connection: Connection,
    directory: Path,
    size: int | None,
    witness_vkeys: Sequence[str],
    progress: ProgressCallback | None,
) -> ExportSummary:
    checkpoint = get_checkpoint(connection, size)
    if checkpoint is None:
        wanted = "any size" if size is None else f"size {size}"
        raise LedgerStateError(f"no checkpoint at {wanted}; run `sequestra checkpoint` first")
    total = checkpoint.size
    _write_entries(connection, directory, total, progress)
    tiles = write_tiles(directory, total, DatabaseNodeReader(connection))
    (directory / "checkpoint").write_bytes(checkpoint.note)
    older = list_checkpoints(connection, total)
    (directory / "checkpoints").mkdir()
    for stored in older:
        (directory / "checkpoints" / str(stored.size)).write_bytes(stored.note)
    vkey = ledger_verifier_key(connection)
    _write_keys(connection, directory, vkey, witness_vkeys)
    manifest = {
        "format": BUNDLE_FORMAT,
        "origin": ledger_origin(connection),
        "size": total,
        "ledger_vkey": vkey,
        "witness_vkeys": list(witness_vkeys),
        "exported_at": format_timestamp(datetime.now(UTC)),
    }
    (directory / "bundle.json").write_text(json.dumps(manifest, indent=2) + "\n")
    return ExportSummary(directory, total, checkpoint.root_hash.hex(), len(older), len(tiles))


def _write_entries(
    connection: Connection, directory: Path, total: int, progress: ProgressCallback | None
) -> None:
    bundle: list[bytes] = []
    expected = 0
    with (directory / "entries.jsonl").open("wb") as lines:
        for start in range(0, total, READ_CHUNK):
            rows = connection.execute(
                select(ENTRY_TABLE.c.seq, ENTRY_TABLE.c.entry)
                .where(
                    ENTRY_TABLE.c.seq >= start, ENTRY_TABLE.c.seq < min(start + READ_CHUNK, total)
                )
                .order_by(ENTRY_TABLE.c.seq)
            ).all()
            for seq, data in rows:
                if seq != expected:
                    raise LedgerStateError(f"entry {expected} is missing from the database")
                expected += 1
                lines.write(bytes(data) + b"\n")
                bundle.append(bytes(data))
                if len(bundle) == TILE_WIDTH:
                    _write_bundle(directory, (seq // TILE_WIDTH), bundle, full=True)
                    bundle = []
            if progress is not None:
                progress(expected, total)
    if expected != total:
        raise LedgerStateError(f"entry {expected} is missing from the database")
    if bundle:
        _write_bundle(directory, total // TILE_WIDTH, bundle, full=False)


def _write_bundle(directory: Path, index: int, entries: list[bytes], full: bool) -> None:
    path = directory / entry_bundle_path(index, None if full else len(entries))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(encode_entry_bundle(entries))


def _write_keys(
    connection: Connection, directory: Path, ledger_vkey: str, witness_vkeys: Sequence[str]
) -> None:
    keys = directory / "keys"
    keys.mkdir()
    (keys / "ledger.vkey").write_text(ledger_vkey + "\n")
    (keys / "witnesses.vkeys").write_text("".join(v + "\n" for v in witness_vkeys))
    records = sorted(load_authority(connection).records.values(), key=lambda r: r.enrolled_seq)
    with (keys / "issuers.jsonl").open("w") as handle:
        for record in records:
            handle.write(
                json.dumps(
                    {
                        "issuer": record.issuer,
                        "public_key": record.public_key,
                        "roles": list(record.roles),
                        "label": record.label,
                        "enrolled_seq": record.enrolled_seq,
                        "revoked_seq": record.revoked_seq,
                    },
                    sort_keys=True,
                )
                + "\n"
            )
