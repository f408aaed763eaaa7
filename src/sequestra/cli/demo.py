"""`sequestra demo`: a sandbox ledger built from the example keys, verified end to end."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import typer
from rich.panel import Panel
from rich.table import Table

from sequestra.cli.common import console, fail_usage, handled, print_json, state
from sequestra.ledger.db import create_ledger_engine
from sequestra.ledger.errors import AppendRefused
from sequestra.ledger.keys import SigningKey, load_signing_key
from sequestra.ledger.kinds import KEY_ENROLLED, KEY_REVOKED, NOTE_RECORDED
from sequestra.ledger.ops import init_ledger
from sequestra.ledger.statement import sign_statement
from sequestra.ledger.store import Ledger
from sequestra.ledger.timefmt import format_timestamp
from sequestra.ledger.verify import verify_ledger

EXAMPLE_PASSPHRASE = b"sandbox-example-passphrase"
DEMO_DATABASE = Path("var/demo.db")
DEMO_ORIGIN = "sandbox.sequestra.example/ledger"
ROLE_KEYS = {
    "treasury-officer": "treasury-officer",
    "approver": "approver",
    "auditor": "auditor",
    "watcher": "watcher",
    "valuer": "valuer",
}


def _load(keys_dir: Path, name: str) -> SigningKey:
    return load_signing_key(keys_dir / f"{name}.key", EXAMPLE_PASSPHRASE)


def _fresh_sqlite(path: Path) -> str:
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    return f"sqlite:///{path}"


def demo(
    context: typer.Context,
    keys: Path = typer.Option(Path("keys-example"), help="Directory of the example keys."),
    json_output: bool = typer.Option(False, "--json", help="Print the summary as JSON."),
) -> None:
    """Build a fresh sandbox ledger (var/demo.db) from the example keys and verify it."""
    if not (keys / "ledger.key").is_file():
        fail_usage(f"{keys}/ledger.key not found; run from the repository root or pass --keys")
    url = state(context).database_url or _fresh_sqlite(DEMO_DATABASE)
    engine = create_ledger_engine(url)
    now = datetime.now(UTC)
    with handled():
        ledger_key, admin = _load(keys, "ledger"), _load(keys, "admin")
        init_ledger(engine, DEMO_ORIGIN, [admin.public_key_raw], ledger_key, now_utc=now)
        with Ledger(engine) as ledger:
            officers = {role: _load(keys, name) for role, name in ROLE_KEYS.items()}
            enrolments = [
                sign_statement(
                    admin,
                    KEY_ENROLLED,
                    {
                        "public_key": key.public_key_b64,
                        "roles": [role],
                        "valid_from": format_timestamp(now),
                        "label": f"example {role}",
                    },
                    now,
                )
                for role, key in officers.items()
            ]
            ledger.append(enrolments, now)
            officer = officers["treasury-officer"]
            notes = [
                sign_statement(officer, NOTE_RECORDED, {"text": text}, now)
                for text in (
                    "Custody procedures adopted for case AFM-2025-0001.",
                    "Hardware wallets sealed in vault B, witnessed by two officers.",
                )
            ]
            ledger.append(notes, now)
            refused = _show_refusal(ledger, officer, now)
            spare = SigningKey.generate()
            ledger.append(
                [
                    sign_statement(
                        admin,
                        KEY_ENROLLED,
                        {
                            "public_key": spare.public_key_b64,
                            "roles": ["treasury-officer"],
                            "valid_from": format_timestamp(now),
                            "label": "temporary officer",
                        },
                        now,
                    )
                ],
                now,
            )
            ledger.append(
                [
                    sign_statement(
                        admin,
                        KEY_REVOKED,
                        {"issuer": spare.issuer, "reason": "temporary access ended"},
                        now,
                    )
                ],
                now,
            )
            records = ledger.authority().records
        result = verify_ledger(engine, ledger_key.public_key_raw)
    summary = {
        "database": url,
        "origin": DEMO_ORIGIN,
        "entries": result.size,
        "keys": len(records),
        "revoked": sum(1 for r in records.values() if not r.active),
        "refused_example": refused,
        "verify": result.to_json(),
    }
    if json_output:
        print_json(summary)
    else:
        _print_summary(summary, records.values())
    if not result.ok:
        raise typer.Exit(1)


def _show_refusal(ledger: Ledger, officer: SigningKey, now: datetime) -> str:
    """An officer tries to enroll a key: the ledger must refuse and write nothing."""
    attempt = sign_statement(
        officer,
        KEY_ENROLLED,
        {
            "public_key": SigningKey.generate().public_key_b64,
            "roles": ["admin"],
            "valid_from": format_timestamp(now),
            "label": "self-promotion",
        },
        now,
    )
    try:
        ledger.append([attempt], now)
    except AppendRefused as error:
        return str(error)
    raise RuntimeError("the ledger accepted an enrolment from a treasury officer")


def _print_summary(summary: dict[str, object], records: object) -> None:
    table = Table("key", "roles", "enrolled at seq", "revoked at seq")
    for record in sorted(records, key=lambda r: r.enrolled_seq):  # type: ignore[attr-defined]
        revoked = "" if record.revoked_seq is None else str(record.revoked_seq)
        table.add_row(record.label, ", ".join(record.roles), str(record.enrolled_seq), revoked)
    console.print(table)
    console.print(f"refused as expected: {summary['refused_example']}")
    verdict = summary["verify"]
    status = "[green]verified[/]" if verdict["ok"] else f"[red]FAILED[/] {verdict}"  # type: ignore[index]
    console.print(
        Panel(
            f"ledger {summary['origin']}\n{summary['entries']} entries, {summary['keys']} keys "
            f"({summary['revoked']} revoked): {status}\ndatabase: {summary['database']}\n"
            f"next: sequestra --database-url {summary['database']} log",
            title="Sequestra demo",
        )
    )
