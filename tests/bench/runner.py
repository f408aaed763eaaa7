"""Running a benchmark script small, as its smoke test does: in a child process, with a
time limit; it must succeed and print one JSON document."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any


def run_bench(script: Path, *arguments: str, timeout_s: float, cwd: Path | None = None) -> Any:
    """The JSON the script printed; fails the test, with the script's stderr, when it did
    not exit 0."""
    finished = subprocess.run(
        [sys.executable, str(script), *arguments],
        capture_output=True,
        text=True,
        timeout=timeout_s,
        check=False,
        cwd=cwd,
    )
    assert finished.returncode == 0, finished.stderr[-2000:]
    return json.loads(finished.stdout)
