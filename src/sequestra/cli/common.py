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
from rich.markup import escape
from sqlalchemy import Engine
from sqlalchemy.exc import DBAPIError

from sequestra.cli.database_errors import database_failure
from sequestra.config import Settings, load_settings
from sequestra.errors import (
    EXIT_CODES,
    DependencyUnavailable,
    InputRefused,
    IntegrityFailure,
    SequestraError,
    exit_code,
)
from sequestra.ledger.db import NoLedgerFile, create_ledger_engine
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
                settings = load_settings(self.config_path)
            except (FileNotFoundError, ValidationError, ValueError) as error:
                fail_usage(f"configuration: {error}")
            _check_policy(settings)
            self._settings = settings
        return self._settings

    def url(self) -> str:
        if self.database_url:
            return self.database_url
        try:
            return self.settings().resolved_database_url()
        except OSError as error:
            fail_usage(f"database_url_file: {error}")

    def engine(self, *, create: bool = False) -> Engine:
        """The ledger's engine; only `create` (for `sequestra init`) may make a SQLite file."""
        if self._engine is None:
            try:
                self._engine = create_ledger_engine(self.url(), must_exist=not create)
            except LedgerStateError as error:
                fail_usage(str(error))
            except NoLedgerFile as error:
                fail(str(error), exit_code(error))
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


def _check_policy(settings: Settings) -> None:
    """Read the configured trust policy once at load, so a wrong key in it is reported before
    any command signs or writes anything (a missing file is reported by the commands that
    need it)."""
    from sequestra.ledger.policy import PolicyError, read_policy

    path = settings.trust.policy_file
    if path is None or not path.is_file():
        return
    try:
        read_policy(path)
    except PolicyError as error:
        fail_usage(f"configuration: [trust] policy_file: {error}")
    except OSError as error:
        fail(
            f"configuration: [trust] policy_file: {error}", EXIT_CODES[DependencyUnavailable.branch]
        )


def state(context: typer.Context) -> AppState:
    root = context.find_root()
    if not isinstance(root.obj, AppState):
        root.obj = AppState()
    return root.obj


def fail(message: str, code: int = EXIT_FAILED) -> NoReturn:
    # escape: a message quoting a setting ("[trust] policy_file") is text, not markup.
    error_console.print(f"[bold red]error:[/] {escape(message)}", highlight=False, soft_wrap=True)
    raise typer.Exit(code)


def fail_usage(message: str) -> NoReturn:
    fail(message, EXIT_USAGE)


@contextmanager
def handled() -> Iterator[None]:
    """Turn errors into a message and the exit code of their kind, once, at the edge.

    Every error of the hierarchy (`sequestra.errors`) exits with its branch's code, the same
    for every command; a file that cannot be read is a dependency unavailable (6); what the
    database refuses is said in one line (`cli.database_errors`): read-only 6, no ledger
    tables 4 with the command that fixes it, a value it cannot hold 2.
    """
    try:
        yield
    except SequestraError as error:
        fail(str(error), exit_code(error))
    except OSError as error:
        fail(f"{error.filename or ''}: {error.strerror}", EXIT_CODES[DependencyUnavailable.branch])
    except DBAPIError as error:
        # One line from the driver: SQLAlchemy's text carries the SQL and its parameters.
        message, code = database_failure(error)
        fail(message, code)


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
