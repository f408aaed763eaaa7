"""The end of `sequestra-sandbox demo`: every report in every format written to var/reports/, API
tokens for the sample users, and the dashboard served until Ctrl-C."""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Final

from rich.table import Table
from sqlalchemy import Engine

from sequestra.cli.common import console
from sequestra.composition import application
from sequestra.ledger.policy import TrustPolicy
from sequestra.reports.catalog import REPORT_FORMATS
from sequestra.reports.errors import ReportError
from sequestra.service.access.roles import AUDITOR, MINISTRY, TREASURY_OFFICER
from sequestra.service.access.tokens import create_token
from sequestra.service.trust import ServiceTrust

APPLICATION = application()

REPORTS_DIRECTORY: Final = Path("var/reports")
TOKEN_ROLES: Final = (MINISTRY, AUDITOR, TREASURY_OFFICER)


@dataclass(frozen=True)
class WrittenReport:
    kind: str
    format_name: str
    path: Path | None
    size_bytes: int
    summary: str  # what it covers, or why it could not be made

    def to_json(self) -> dict[str, Any]:
        return {
            "report": self.kind,
            "format": self.format_name,
            "file": None if self.path is None else str(self.path),
            "bytes": self.size_bytes,
            "summary": self.summary,
        }


def write_reports(
    engine: Engine, policy: TrustPolicy | None = None, directory: Path = REPORTS_DIRECTORY
) -> list[WrittenReport]:
    """Write every report in every format over the whole ledger into `directory` (emptied
    first), cosignatures judged by `policy`. A report that cannot be made is listed with its
    reason and no file."""
    reports = APPLICATION.reports.judged_by(policy)
    directory.mkdir(parents=True, exist_ok=True)
    for stale in directory.iterdir():
        if stale.is_file():
            stale.unlink()
    written = []
    for kind in reports.kinds():
        for format_name in REPORT_FORMATS:
            try:
                report = reports.render(engine, kind, format_name)
            except ReportError as error:
                written.append(WrittenReport(kind, format_name, None, 0, str(error)))
                continue
            path = directory / report.filename
            path.write_bytes(report.data)
            written.append(WrittenReport(kind, format_name, path, len(report.data), report.summary))
    return written


def write_tokens(engine: Engine, directory: Path, now: datetime) -> dict[str, str]:
    """An API token for each sample user's role, each in its own file readable by the owner
    only; returns role -> file. The tokens are the sandbox's: they open this demo ledger."""
    directory.mkdir(parents=True, exist_ok=True)
    files = {}
    for role in TOKEN_ROLES:
        token, _ = create_token(engine, role, f"demo {role}", now)
        path = directory / f"{role}.token"
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "w", encoding="ascii") as handle:
            handle.write(token + "\n")
        files[role] = str(path)
    return files


def print_reports(reports: list[dict[str, Any]]) -> None:
    """One line per report: the formats written (or why it was not made) and what it covers."""
    table = Table(title=f"Reports in {REPORTS_DIRECTORY}/", title_justify="left")
    for column in ("report", "files", "covers"):
        table.add_column(column)
    kinds: dict[str, list[dict[str, Any]]] = {}
    for report in reports:
        kinds.setdefault(report["report"], []).append(report)
    for kind, written in kinds.items():
        files = [Path(r["file"]).name for r in written if r["file"]]
        missing = [r["format"] for r in written if not r["file"]]
        shown = ", ".join(files) + (f" [red]not made: {', '.join(missing)}[/]" if missing else "")
        table.add_row(kind, shown, written[0]["summary"])
    console.print(table)


LISTEN_BACKLOG: Final = 128


class PortUnavailable(Exception):
    """The dashboard's address cannot be listened on (in use, or not this machine's)."""


def reserve_address(host: str, port: int) -> socket.socket:
    """Bind host:port before the demo does any work, and keep it for the server: a port in
    use is reported at once, and nothing else can take it while the demo builds.

    Raises PortUnavailable naming the address and what to do.
    """
    try:
        family = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0][0]
        listener = socket.socket(family, socket.SOCK_STREAM)
    except OSError as error:
        raise PortUnavailable(f"--host {host}: {error}") from error
    try:
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind((host, port))
        listener.listen(LISTEN_BACKLOG)
    except OSError as error:
        listener.close()
        raise PortUnavailable(
            f"--port {port}: cannot listen on {host}:{port} ({error.strerror}); stop what"
            f" uses it or choose another port (`make demo PORT=8081`, or"
            f" `sequestra-sandbox demo --port 8081`); nothing was built"
        ) from error
    return listener


def serve_dashboard(
    engine: Engine,
    listener: socket.socket,
    tokens: dict[str, str],
    ledger_public_key: bytes,
    trust: ServiceTrust,
) -> None:
    """Serve the API and the pages on the reserved `listener` until Ctrl-C (no scheduler:
    the demo's sandbox chains and venues have stopped; `sequestra serve` runs it in
    production)."""
    import uvicorn

    from sequestra.service.app import create_app

    host, port = listener.getsockname()[:2]
    address = f"http://{host}:{port}"
    console.print(
        f"\n[bold]Open {address}/ in a browser[/] and sign in with a token:\n"
        + "\n".join(f"  {role}: paste the contents of {path}" for role, path in tokens.items())
        + f"\nThe API is at {address}/api/v1 (OpenAPI: {address}/openapi.json)."
        "\nCtrl-C stops the server.",
        highlight=False,
    )
    config = uvicorn.Config(
        create_app(engine, APPLICATION, ledger_public_key=ledger_public_key, trust=trust),
        log_level="warning",
        lifespan="on",
    )
    uvicorn.Server(config).run(sockets=[listener])
