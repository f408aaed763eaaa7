"""`sequestra serve` as real processes, on both databases: GET /health answers, one process
leads the scheduler, and SIGTERM hands the lead to the other."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from typer.testing import CliRunner

from tests.cli.conftest import runner  # noqa: F401  (the CLI runner fixture)
from tests.cli.treasury import Treasury

WAIT_S = 30.0


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _health(port: int) -> dict[str, object] | None:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2) as answer:
            return dict(json.loads(answer.read()))
    except OSError:
        return None


def _wait(port: int, leader: bool) -> dict[str, object]:
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        status = _health(port)
        if status is not None and status["scheduler_leader"] is leader:
            return status
        time.sleep(0.2)
    raise AssertionError(f"port {port}: no /health with scheduler_leader={leader} in {WAIT_S} s")


@contextmanager
def _serving(url: str, config: Path, port: int) -> Iterator[subprocess.Popen[bytes]]:
    command = [
        sys.executable,
        "-m",
        "sequestra.cli",
        "--database-url",
        url,
        "--config",
        str(config),
        "serve",
        "--port",
        str(port),
    ]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        yield process
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(10)


def test_serve_leads_answers_and_hands_over(
    runner: CliRunner,  # noqa: F811
    database_url: str,
    tmp_path: Path,
) -> None:
    config = tmp_path / "sequestra.toml"
    config.write_text(
        "[scheduler]\nleader_retry_s = 0.5\nheartbeat_s = 0.5\nwatch_enabled = false\n"
        "revalue_hourly = false\nrevalue_daily = false\ncheckpoint_enabled = true\n"
        "checkpoint_interval_s = 3600\n",
        encoding="utf-8",
    )
    treasury = Treasury.create(runner, database_url, config)
    token = treasury.json("api-token create --role auditor --label test")["token"]
    first_port, second_port = _free_port(), _free_port()
    with _serving(database_url, config, first_port) as first:
        status = _wait(first_port, leader=True)
        assert status["status"] == "ok" and status["ledger_size"] == 3
        request = urllib.request.Request(
            f"http://127.0.0.1:{first_port}/api/v1/entries?limit=5",
            headers={"Authorization": f"Bearer {token}"},
        )
        with urllib.request.urlopen(request, timeout=5) as answer:
            entries = json.loads(answer.read())
        assert [item["seq"] for item in entries["items"]] == [0, 1, 2]
        with _serving(database_url, config, second_port) as second:
            assert _wait(second_port, leader=False)["ledger_size"] == 3
            os.kill(first.pid, signal.SIGTERM)
            assert first.wait(WAIT_S) == 0
            _wait(second_port, leader=True)
            second.send_signal(signal.SIGTERM)
            assert second.wait(WAIT_S) == 0
