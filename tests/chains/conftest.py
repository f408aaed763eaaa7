"""Fixtures for the chain tests: a real Ethereum node (anvil, from npm) per test session."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from sequestra_sandbox.anvil import AnvilNode, AnvilNotFoundError, find_anvil, running_anvil

# CI installs anvil (`npm install`), so there a missing binary must fail, not skip.
REQUIRE_ANVIL_ENV = "SEQUESTRA_REQUIRE_ANVIL"


@pytest.fixture(scope="session")
def anvil_binary() -> Path:
    """The installed anvil; skips the test when there is none (fails instead when required)."""
    try:
        return find_anvil()
    except AnvilNotFoundError as error:
        if os.environ.get(REQUIRE_ANVIL_ENV) == "1":
            pytest.fail(f"{REQUIRE_ANVIL_ENV}=1 but {error}")
        pytest.skip(f"anvil is not installed: {error}")


@pytest.fixture(scope="session")
def anvil_node(anvil_binary: Path) -> Iterator[AnvilNode]:
    """One anvil (chain 31337, automine, anvil's dev accounts) shared by a test session."""
    with running_anvil(binary=anvil_binary) as node:
        yield node
