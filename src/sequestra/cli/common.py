"""Helpers shared by the CLI's command groups: settings, keys, output, errors."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import typer
from pydantic import ValidationError
from rich.console import Console
from sqlalchemy import Engine
from sqlalchemy.exc import OperationalError, ProgrammingError

from sequestra.config import Settings, load_settings
from sequestra.errors import (
    EXIT_CODES,
    Conflict,
    DependencyUnavailable,
    InputRefused,
    IntegrityFailure,
    SequestraError,
    exit_code,
)
from sequestra.ledger.db import create_ledger_engine
from sequestra.ledger.errors import LedgerStateError
from sequestra.ledger.keys import SigningKey, read_key_file, resolve_passphrase, unlock
from sequestra.ledger.store import AppendRules

if TYPE_CHECKING:
    from sequestra.composition import Application
    from sequestra.ledger.rules import RuleSet

EXIT_FAILED = EXIT_CODES[IntegrityFailure.branch]  # verify found a defect
EXIT_USAGE = EXIT_CODES[InputRefused.branch]  # the input was refused; nothing written

console = Console(soft_wrap=True)
error_console = Console(stderr=True)


@dataclass
class AppState:
    config_path: Path | None = None
    database_url: str | None = None
    _settings: Settings | None = None
    _engine: Engine | None = None

    def settings(self) -> Settings:
        if self._settings is None:
            try:
                self._settings = load_settings(self.config_path)
            except (FileNotFoundError, ValidationError, ValueError) as error:
                fail_usage(f"configuration: {error}")
        return self._settings

    def url(self) -> str:
        if self.database_url:
            return self.database_url
        try:
            return self.settings().resolved_database_url()
        except OSError as error:
            fail_usage(f"database_url_file: {error}")

    def engine(self) -> Engine:
        if self._engine is None:
            try:
                self._engine = create_ledger_engine(self.url())
            except LedgerStateError as error:
                fail_usage(str(error))
        return self._engine

    def rules(self) -> AppendRules:
        ledger = self.settings().ledger
        return AppendRules(ledger.clock_skew_s_max, ledger.statement_age_s_max)

    def application(self) -> Application:
        """The composed application (rule set, reports): the same for every command."""
        from sequestra.composition import application

        return application()

    def rule_set(self) -> RuleSet:
        return self.application().rules


def state(context: typer.Context) -> AppState:
    root = context.find_root()
    if not isinstance(root.obj, AppState):
        root.obj = AppState()
    return root.obj


def fail(message: str, code: int = EXIT_FAILED) -> NoReturn:
    error_console.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    raise typer.Exit(code)


def fail_usage(message: str) -> NoReturn:
    fail(message, EXIT_USAGE)


@contextmanager
def handled() -> Iterator[None]:
    """Turn errors into a message and the exit code of their kind, once, at the edge.

    Every error of the hierarchy (`sequestra.errors`) exits with its branch's code, the same
    for every command; a file that cannot be read is a dependency unavailable (6); a database
    without the ledger's tables is a conflict (4) with the command that fixes it.
    """
    try:
        yield
    except SequestraError as error:
        fail(str(error), exit_code(error))
    except OSError as error:
        fail(f"{error.filename or ''}: {error.strerror}", EXIT_CODES[DependencyUnavailable.branch])
    except (OperationalError, ProgrammingError) as error:
        text = str(error.orig).lower()
        if "no such table" in text or "does not exist" in text:
            fail(
                "the database holds no ledger tables (or an older schema): run `sequestra init`"
                " for a new ledger or `sequestra db upgrade` for an existing one",
                EXIT_CODES[Conflict.branch],
            )
        fail(f"database error: {error.orig}", EXIT_CODES[DependencyUnavailable.branch])


def load_key(path: Path, passphrase_file: Path | None) -> SigningKey:
    """Load a signing key, prompting for the passphrase on a terminal if none is given.

    The file is checked (who may read it, its form) before a passphrase is asked for; what
    the holder should know about it is said on stderr.
    """
    key_file = read_key_file(path)
    for warning in key_file.warnings():
        error_console.print(f"warning: {warning}", markup=False, highlight=False, soft_wrap=True)
    passphrase = resolve_passphrase(passphrase_file) if key_file.encrypted else None
    if passphrase is None and key_file.encrypted and sys.stdin.isatty():
        passphrase = typer.prompt(f"Passphrase for {path}", hide_input=True).encode("utf-8")
    return unlock(key_file, passphrase)


def print_json(value: Any) -> None:
    sys.stdout.write(json.dumps(value, ensure_ascii=False, sort_keys=True) + "\n")


def read_input(path: str) -> bytes:
    """Read a file, or standard input for '-'."""
    if path == "-":
        return sys.stdin.buffer.read()
    return Path(path).read_bytes()


PASSPHRASE_FILE_OPTION = typer.Option(
    None,
    "--passphrase-file",
    help="File holding the key's passphrase (else $SEQUESTRA_PASSPHRASE, else a prompt).",
    exists=True,
    dir_okay=False,
)
JSON_OPTION = typer.Option(False, "--json", help="Print JSON for scripts.")
