"""Running the demo and the guides from a checkout: a taken port is reported before any work,
`make demo` passes a port and leaves the tracked lock file alone, and the files the guides'
examples write stay out of the repository's tracked tree."""

from __future__ import annotations

import re
import socket
import subprocess
from pathlib import Path

import pytest
from typer.testing import CliRunner

from sequestra.errors import EXIT_CONFLICT
from sequestra_sandbox.cli import app

ROOT = Path(__file__).resolve().parents[2]
GUIDES = (ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md")))
# Files a guide's example command writes: `--out PATH` and `> PATH` in its indented lines.
WRITTEN = re.compile(r"^\s{4,}.*?(?:--out | > )([A-Za-z0-9_./-]+)", re.MULTILINE)


def test_a_taken_port_fails_before_anything_is_built(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        result = CliRunner().invoke(
            app, ["demo", "--keys", str(ROOT / "keys-example"), "--port", str(port)]
        )
    assert result.exit_code == EXIT_CONFLICT, result.output
    assert f"--port {port}" in result.output and "nothing was built" in result.output
    assert not (tmp_path / "var").exists()


def test_the_reserved_address_is_kept_for_the_server() -> None:
    from sequestra_sandbox.demo.serve import PortUnavailable, reserve_address

    listener = reserve_address("127.0.0.1", 0)
    try:
        port = listener.getsockname()[1]
        with pytest.raises(PortUnavailable, match=f"--port {port}"):
            reserve_address("127.0.0.1", port).close()
    finally:
        listener.close()


def test_make_demo_passes_a_port_and_installs_node_packages_from_the_lock_file() -> None:
    dry_run = subprocess.run(
        ["make", "-n", "-W", "pyproject.toml", "-W", "package.json", "demo", "PORT=8081"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "sequestra-sandbox demo --port 8081" in dry_run
    assert "npm ci" in dry_run and "npm install" not in dry_run


def guide_outputs() -> list[tuple[str, str]]:
    found = []
    for guide in GUIDES:
        for match in WRITTEN.finditer(guide.read_text(encoding="utf-8")):
            path = match.group(1)
            if not path.startswith(("/", "~", "-")) and path not in ("FILE", "DIR"):
                found.append((guide.name, path))
    return found


def test_what_the_guides_write_in_the_checkout_is_never_tracked() -> None:
    outputs = guide_outputs()
    assert len(outputs) >= 10
    untracked = []
    for guide, path in outputs:
        ignored = subprocess.run(
            ["git", "check-ignore", "--no-index", "-q", path], cwd=ROOT, check=False
        )
        if ignored.returncode != 0:
            untracked.append(f"{guide}: {path}")
    assert not untracked, untracked
