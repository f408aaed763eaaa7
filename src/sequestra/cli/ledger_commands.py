"""Ledger commands: init, sign, append, verify, log, db, keys."""

from __future__ import annotations

import os
import sys
from datetime import UTC, datetime
from pathlib import Path

import typer
from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from sequestra.cli.common import (
    EXIT_FAILED,
    JSON_OPTION,
    PASSPHRASE_FILE_OPTION,
    console,
    fail,
    fail_usage,
    handled,
    load_key,
    print_json,
    read_input,
    state,
)
from sequestra.cli.tables import print_table
from sequestra.errors import EXIT_UNAVAILABLE, exit_code
from sequestra.ledger import queries as ledger_queries
from sequestra.ledger.canonical import parse_json
from sequestra.ledger.errors import CanonicalError, StatementError
from sequestra.ledger.keys import (
    PASSPHRASE_ENV,
    SigningKey,
    encode_public_key,
    issuer_id,
    load_public_key,
    read_passphrase_file,
    rekey_key_file,
    write_key_pair,
)
from sequestra.ledger.kinds import ENROLLABLE_ROLES, KEY_ENROLLED, KEY_REVOKED
from sequestra.ledger.note import NoteError, format_verifier_key
from sequestra.ledger.queries import READ_LIMIT_MAX
from sequestra.ledger.statement import SignedStatement, parse_signed_statement
from sequestra.ledger.store import BATCH_STATEMENTS_MAX, Ledger
from sequestra.ledger.timefmt import format_timestamp, parse_timestamp
from sequestra.ledger.verify import VerifyResult, verify_ledger
from sequestra.service.trust import load_policy, trusted_ledger_key, trusted_state

db_app = typer.Typer(help="Database schema (Alembic migrations).", no_args_is_help=True)
keys_app = typer.Typer(help="Generate, enroll, revoke and list signing keys.", no_args_is_help=True)


@db_app.command("upgrade")
def db_upgrade(context: typer.Context) -> None:
    """Migrate the database schema to the newest revision."""
    from sequestra.ledger import migrate  # Alembic: loaded by the commands that migrate

    engine = state(context).engine()
    with handled():
        migrate.upgrade(engine)
    console.print(f"schema at revision {migrate.current_revision(engine)}")


@db_app.command("current")
def db_current(context: typer.Context) -> None:
    """Print the schema revision of the database and the newest known."""
    from sequestra.ledger import migrate

    engine = state(context).engine()
    console.print(
        f"database: {migrate.current_revision(engine)}; newest: {migrate.head_revision()}"
    )


def init(
    context: typer.Context,
    origin: str = typer.Option(..., help="Log origin, e.g. treasury.gov.kz/sequestra (no spaces)."),
    admin: list[str] = typer.Option(..., help="Admin public key (.pub file or base64); repeat."),
    ledger_key: Path = typer.Option(..., help="The ledger's private key file (signs the genesis)."),
    passphrase_file: Path | None = PASSPHRASE_FILE_OPTION,
    json_output: bool = JSON_OPTION,
) -> None:
    """Create the schema and the genesis entry holding the trust anchor."""
    from sequestra.ledger.ops import init_ledger  # Alembic: loaded by the commands that migrate

    app_state = state(context)
    with handled():
        key = load_key(ledger_key, passphrase_file)
        admins = [load_public_key(reference) for reference in admin]
        receipt = init_ledger(
            app_state.engine(create=True),
            app_state.rule_set(),
            origin,
            admins,
            key,
            app_state.rules(),
        )
    if json_output:
        print_json({**receipt.to_json(), "origin": origin, "ledger_key": key.public_key_b64})
    else:
        console.print(f"ledger {origin} created; genesis leaf {receipt.leaf_hash.hex()}")
        console.print(f"ledger key (pin this for verify): {key.public_key_b64}")


def _read_body(body: str) -> dict[str, object]:
    try:
        value = parse_json(read_input(body))
    except CanonicalError as error:
        fail(f"--body: {error}", exit_code(error))
    except OSError as error:
        fail(f"--body: {error.strerror}: {body}", EXIT_UNAVAILABLE)
    if not isinstance(value, dict):
        fail_usage("--body: expected a JSON object")
    return value


def sign(
    context: typer.Context,
    kind: str = typer.Option(..., help="Statement kind, e.g. note.recorded."),
    body: str = typer.Option(..., help="JSON file holding the body, or - for standard input."),
    key: Path = typer.Option(..., help="Your private key file; it never leaves this machine."),
    passphrase_file: Path | None = PASSPHRASE_FILE_OPTION,
) -> None:
    """Sign a statement locally and print it as one JSON line (for `append` or the API)."""
    with handled():
        signing_key = load_key(key, passphrase_file)
        rule_set = state(context).rule_set()
        statement = rule_set.sign(signing_key, kind, _read_body(body), datetime.now(UTC))
    sys.stdout.write(statement.to_bytes().decode("utf-8") + "\n")


def _parse_lines(data: bytes, source: str) -> list[SignedStatement]:
    statements = []
    for number, line in enumerate(data.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            statements.append(parse_signed_statement(line))
        except StatementError as error:
            fail(f"{source} line {number}: {error}; nothing was appended", exit_code(error))
    return statements


def append(
    context: typer.Context,
    files: list[str] = typer.Argument(
        ..., help="Files of signed statements (JSON lines); - reads stdin."
    ),
    json_output: bool = JSON_OPTION,
) -> None:
    """Register signed statements; all of them, in order, or none.

    Each file holds one signed statement per line (a single JSON document also works).
    """
    app_state = state(context)
    statements: list[SignedStatement] = []
    for name in files:
        try:
            data = read_input(name)
        except OSError as error:
            fail(f"{name}: {error.strerror}; nothing was appended", EXIT_UNAVAILABLE)
        statements.extend(_parse_lines(data, "stdin" if name == "-" else name))
    if not statements:
        fail_usage("no statements given")
    if len(statements) > BATCH_STATEMENTS_MAX:
        fail_usage(f"{len(statements)} statements; one call takes at most {BATCH_STATEMENTS_MAX}")
    with handled(), Ledger(app_state.engine(), app_state.rule_set(), app_state.rules()) as ledger:
        ledger.require_initialised()
        receipts = ledger.append(statements)
    for receipt in receipts:
        if json_output:
            print_json(receipt.to_json())
        else:
            console.print(f"seq {receipt.seq}  leaf {receipt.leaf_hash.hex()}")


def verify(
    context: typer.Context,
    json_output: bool = JSON_OPTION,
    ledger_public_key: str | None = typer.Option(
        None, "--ledger-pub", help="Trusted ledger public key (.pub or base64); else config."
    ),
    policy_file: Path | None = typer.Option(
        None,
        "--policy",
        help="Trust policy: the ledger's key, the witnesses (their latest cosigned checkpoints"
        " are fetched) and the quorum; else [trust] policy_file.",
        exists=True,
        dir_okay=False,
    ),
    trusted_checkpoints: list[Path] = typer.Option(
        [],
        "--trusted-checkpoint",
        help="A checkpoint you kept from an earlier audit (signed note); the ledger must"
        " extend it. Repeatable.",
        exists=True,
        dir_okay=False,
    ),
    trusted_anchors: list[str] = typer.Option(
        [],
        "--trusted-anchor",
        help="An anchor you kept (ethereum:0x<tx> or bitcoin:<txid>@<block hash>): read back"
        " from its chain ([anchor] nodes), the ledger must extend the root it carries."
        " Repeatable.",
    ),
    offline: bool = typer.Option(
        False, "--offline", help="Do not ask the policy's witnesses; use the kept checkpoints."
    ),
    workers: int | None = typer.Option(
        None, min=1, max=256, help="Processes (default: all cores)."
    ),
) -> None:
    """Recompute every hash, link, signature, authority and projection, and check that the
    ledger extends the history held outside the database (the policy's witnesses, the
    checkpoints you kept); exit 1 if anything fails.

    Without a policy or a kept checkpoint, everything the database holds is still checked,
    but nothing pins the history: the verdict says so ("not pinned").
    """
    app_state = state(context)
    settings = app_state.settings()
    with handled():
        trusted = trusted_ledger_key(settings, ledger_public_key)
        policy = load_policy(settings, policy_file)
        engine = app_state.engine()
        trust = trusted_state(
            settings,
            policy,
            trusted_checkpoints,
            fetch_witnesses=False if offline else None,
            engine=engine,
            anchors=trusted_anchors,
        )
        rules, skew = app_state.rule_set(), settings.ledger.clock_skew_s_max
        if sys.stderr.isatty() and not json_output:
            with Progress(
                TextColumn("verifying"),
                BarColumn(),
                TextColumn("{task.completed}/{task.total}"),
                TimeRemainingColumn(),
                transient=True,
            ) as bar:
                task = bar.add_task("verify", total=None)
                result = verify_ledger(
                    engine,
                    rules,
                    trusted,
                    lambda done, total: bar.update(task, completed=done, total=total),
                    workers,
                    trust=trust,
                    clock_skew_s=skew,
                )
        else:
            result = verify_ledger(
                engine, rules, trusted, None, workers, trust=trust, clock_skew_s=skew
            )
    _print_verdict(result, json_output)
    if not result.ok:
        raise typer.Exit(EXIT_FAILED)


def _print_verdict(result: VerifyResult, json_output: bool) -> None:
    if json_output:
        print_json(result.to_json())
        return
    summary = result.to_json()["summary"]
    if result.ok:
        console.print(f"[green]OK[/]: {result.size} entries verified; {summary}", highlight=False)
    else:
        where = f"at seq {result.first_bad_seq}" if result.first_bad_seq is not None else ""
        console.print(
            f"[bold red]FAILED[/] {where}: {result.reason} ({result.size} entries)",
            highlight=False,
        )
    for note in [] if result.trust is None else result.trust.notes:
        console.print(f"  [yellow]note[/]: {note}", highlight=False)


def log(
    context: typer.Context,
    from_seq: int = typer.Option(0, "--from", min=0, help="First seq to show."),
    limit: int = typer.Option(20, min=1, max=READ_LIMIT_MAX, help="How many entries."),
    json_output: bool = JSON_OPTION,
    raw: bool = typer.Option(
        False, "--raw", help="Print each entry's exact bytes (JCS), one a line, as hashed."
    ),
) -> None:
    """Show entries in order."""
    with handled():
        entries = ledger_queries.entries(state(context).engine(), from_seq, limit)
    if raw:
        for entry in entries:
            sys.stdout.buffer.write(entry.entry + b"\n")
        return
    if json_output:
        for entry in entries:
            print_json(entry.view_json())
        return
    table = Table("seq", "recorded_at", "kind", "issuer", "body")
    for entry in entries:
        body = entry.to_json()["statement"]["body"]
        text = ", ".join(f"{k}={v}" for k, v in body.items())
        table.add_row(str(entry.seq), entry.recorded_at, entry.kind, entry.issuer[:12], text[:60])
    print_table(table)


NEW_PASSPHRASE_FILE_HELP = "File holding the new key's passphrase (else it is asked twice)."
PASSPHRASE_FROM_ENV_HELP = (
    f"Take the new key's passphrase from ${PASSPHRASE_ENV} (never taken from it unasked)."
)


def _new_passphrase(
    passphrase_file: Path | None, from_env: bool, what: str, env_flag: str = "--passphrase-from-env"
) -> bytes:
    """The passphrase for a new or re-encrypted key: a file, the environment when asked
    explicitly (`env_flag`), else typed twice on a terminal; exits 2 when there is none."""
    if passphrase_file is not None and from_env:
        fail_usage(f"give either a passphrase file or {env_flag}, not both")
    if passphrase_file is not None:
        return read_passphrase_file(passphrase_file)
    if from_env:
        from_environment = os.environ.get(PASSPHRASE_ENV)
        if not from_environment:
            fail_usage(f"{env_flag}: ${PASSPHRASE_ENV} is not set")
        return from_environment.encode("utf-8")
    if not sys.stdin.isatty():
        fail_usage(
            f"no passphrase for {what}: run on a terminal to type it, or give a passphrase"
            f" file (${PASSPHRASE_ENV} is used only with {env_flag})"
        )
    typed: str = typer.prompt(
        f"New passphrase for {what} (12 characters or more)",
        hide_input=True,
        confirmation_prompt=True,
    )
    return typed.encode("utf-8")


@keys_app.command("generate")
def keys_generate(
    name: str = typer.Argument(..., help="Key name: NAME.key and NAME.pub are written."),
    out: Path = typer.Option(..., help="Directory for the key files."),
    passphrase_file: Path | None = typer.Option(
        None, "--passphrase-file", help=NEW_PASSPHRASE_FILE_HELP, exists=True, dir_okay=False
    ),
    passphrase_from_env: bool = typer.Option(
        False, "--passphrase-from-env", help=PASSPHRASE_FROM_ENV_HELP
    ),
) -> None:
    """Generate an Ed25519 key pair; the private key is encrypted with a passphrase.

    The passphrase is typed twice on a terminal, or read from --passphrase-file; the
    environment is used only with --passphrase-from-env.
    """
    if not name.replace("-", "").replace("_", "").isalnum():
        fail_usage(f"NAME: expected letters, digits, - or _, got {name!r}")
    with handled():
        passphrase = _new_passphrase(passphrase_file, passphrase_from_env, f"{name}.key")
        key = SigningKey.generate()
        path = write_key_pair(key, out, name, passphrase)
    console.print(f"wrote {path} and {path.with_suffix('.pub')}; issuer {key.issuer}")


@keys_app.command("rekey")
def keys_rekey(
    key_file: Path = typer.Argument(..., metavar="FILE", help="Private key file to re-encrypt."),
    passphrase_file: Path | None = PASSPHRASE_FILE_OPTION,
    new_passphrase_file: Path | None = typer.Option(
        None, "--new-passphrase-file", help=NEW_PASSPHRASE_FILE_HELP, exists=True, dir_okay=False
    ),
    new_passphrase_from_env: bool = typer.Option(
        False, "--new-passphrase-from-env", help=PASSPHRASE_FROM_ENV_HELP
    ),
) -> None:
    """Re-encrypt a private key file in place in the current format (the key stays the same).

    Opens the file with its passphrase (as any command does), then writes it again under
    the new passphrase; the file is replaced whole or not at all.
    """
    with handled():
        key = load_key(key_file, passphrase_file)
        new_passphrase = _new_passphrase(
            new_passphrase_file, new_passphrase_from_env, str(key_file), "--new-passphrase-from-env"
        )
        rekey_key_file(key_file, key, new_passphrase)
    console.print(f"re-encrypted {key_file}; issuer {key.issuer}")


def _sign_and_append(
    context: typer.Context,
    key_path: Path,
    passphrase_file: Path | None,
    kind: str,
    body: dict[str, object],
) -> int:
    app_state = state(context)
    rule_set = app_state.rule_set()
    with handled(), Ledger(app_state.engine(), rule_set, app_state.rules()) as ledger:
        ledger.require_initialised()
        signing_key = load_key(key_path, passphrase_file)
        now = datetime.now(UTC)
        (receipt,) = ledger.append([rule_set.sign(signing_key, kind, body, now)], now)
    return receipt.seq


@keys_app.command("enroll")
def keys_enroll(
    context: typer.Context,
    public_key: str = typer.Argument(..., metavar="PUB", help="Public key (.pub file or base64)."),
    role: list[str] = typer.Option(
        ..., help=f"Role to grant; repeat. One of {', '.join(ENROLLABLE_ROLES)}."
    ),
    label: str | None = typer.Option(None, help="Who holds the key (default: the .pub file name)."),
    valid_from: str | None = typer.Option(None, help="YYYY-MM-DDTHH:MM:SSZ (default: now)."),
    key: Path = typer.Option(..., help="Admin private key file that signs the enrolment."),
    passphrase_file: Path | None = PASSPHRASE_FILE_OPTION,
) -> None:
    """Enroll a public key with roles (signed by an admin)."""
    with handled():
        raw = load_public_key(public_key)
        if valid_from is not None:
            parse_timestamp(valid_from, "--valid-from")
    body: dict[str, object] = {
        "public_key": encode_public_key(raw),
        "roles": list(role),
        "valid_from": valid_from or format_timestamp(datetime.now(UTC)),
        "label": label
        or (Path(public_key).stem if Path(public_key).is_file() else issuer_id(raw)[:16]),
    }
    seq = _sign_and_append(context, key, passphrase_file, KEY_ENROLLED, body)
    console.print(
        f"enrolled {body['label']} ({issuer_id(raw)[:16]}...) as {', '.join(role)} at seq {seq}"
    )


@keys_app.command("revoke")
def keys_revoke(
    context: typer.Context,
    public_key: str = typer.Argument(
        ..., metavar="PUB", help="Public key (.pub file, base64) or issuer hex."
    ),
    reason: str = typer.Option("revoked by admin", help="Why, for the record."),
    key: Path = typer.Option(..., help="Admin private key file that signs the revocation."),
    passphrase_file: Path | None = PASSPHRASE_FILE_OPTION,
) -> None:
    """Revoke a key: statements it signs afterwards are refused."""
    if len(public_key) == 64 and all(c in "0123456789abcdef" for c in public_key):
        issuer = public_key
    else:
        with handled():
            issuer = issuer_id(load_public_key(public_key))
    seq = _sign_and_append(
        context, key, passphrase_file, KEY_REVOKED, {"issuer": issuer, "reason": reason}
    )
    console.print(f"revoked {issuer[:16]}... at seq {seq}")


@keys_app.command("vkey")
def keys_vkey(
    public_key: str = typer.Argument(..., metavar="PUB", help="Public key (.pub file or base64)."),
    name: str = typer.Option(..., help="Key name; for the ledger key, the log's origin."),
) -> None:
    """Print the C2SP verifier key string of an Ed25519 public key (signed notes)."""
    with handled():
        raw = load_public_key(public_key)
    try:
        sys.stdout.write(format_verifier_key(name, 0x01, raw) + "\n")
    except NoteError as error:
        fail(f"--name: {error}", exit_code(error))


@keys_app.command("list")
def keys_list(context: typer.Context, json_output: bool = JSON_OPTION) -> None:
    """List enrolled keys with roles and revocation."""
    with handled():
        records = ledger_queries.keys_enrolled_before(state(context).engine())
    if json_output:
        for record in records:
            print_json(
                {
                    "issuer": record.issuer,
                    "public_key": record.public_key,
                    "roles": list(record.roles),
                    "label": record.label,
                    "valid_from": record.valid_from,
                    "enrolled_seq": record.enrolled_seq,
                    "revoked_seq": record.revoked_seq,
                    "revoked_reason": record.revoked_reason,
                }
            )
        return
    table = Table("label", "issuer", "roles", "valid from", "enrolled", "revoked")
    for record in records:
        table.add_row(
            record.label,
            record.issuer[:16],
            ", ".join(record.roles),
            record.valid_from,
            str(record.enrolled_seq),
            "" if record.revoked_seq is None else str(record.revoked_seq),
        )
    print_table(table)
