"""Every `sequestra ...` command a message, a docstring or a guide tells the user to run
exists in the command (a named command that does not exist sends the reader nowhere)."""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path
from typing import Any

import typer.main
from typer.core import TyperGroup

from sequestra.cli.main import app

ROOT = Path(__file__).resolve().parents[2]
# `sequestra word word ...` in backquotes (messages, docstrings, guides), and the command
# lines of the guides' indented examples.
QUOTED = re.compile(r"`sequestra((?: [a-z][a-z0-9-]*)+)")
EXAMPLE = re.compile(r"^\s{4,}(?:\$ )?sequestra((?: [a-z][a-z0-9-]*)+)", re.MULTILINE)
SOURCES = (
    *sorted((ROOT / "src").rglob("*.py")),
    *sorted((ROOT / "src").rglob("*.html")),
    *sorted((ROOT / "docs").glob("*.md")),
    ROOT / "README.md",
)


def named_commands() -> list[tuple[str, str]]:
    """(where, words) for every command named in the sources."""
    found: set[tuple[str, str]] = set()
    for path in SOURCES:
        text = path.read_text(encoding="utf-8")
        for pattern in (QUOTED, EXAMPLE):
            for match in pattern.finditer(text):
                line = text.count("\n", 0, match.start()) + 1
                found.add((f"{path.relative_to(ROOT)}:{line}", match.group(1).strip()))
    return sorted(found)


@cache
def _root() -> Any:
    return typer.main.get_command(app)


def resolve(words: list[str]) -> str | None:
    """None when `words` start with a command of the app; else what is wrong."""
    command = _root()
    for depth, word in enumerate(words):
        if not isinstance(command, TyperGroup):
            return None  # the rest are the command's arguments
        sub = command.commands.get(word)
        if sub is None:
            if depth > 0 and _takes_arguments(command):
                return None
            return f"{' '.join(words[: depth + 1])!r}: no such command"
        command = sub
    return None


def _takes_arguments(command: Any) -> bool:
    return any(parameter.param_type_name == "argument" for parameter in command.params)


COMMANDS = named_commands()


def test_the_sources_name_commands() -> None:
    assert len(COMMANDS) > 50


def test_every_named_command_exists() -> None:
    problems = [
        f"{where}: `sequestra {words}`: {problem}"
        for where, words in COMMANDS
        if (problem := resolve(words.split())) is not None
    ]
    assert not problems, "\n".join(problems)


def test_a_message_naming_a_missing_command_is_caught() -> None:
    source = 'raise Conflict("no valuation yet: run `sequestra pricing revalue` first")\n'
    (words,) = QUOTED.findall(source)
    assert resolve(words.split()) == "'pricing': no such command"


def test_a_command_that_does_not_exist_is_found() -> None:
    assert resolve(["pricing", "revalue"]) is not None
    assert resolve(["fund", "nothing"]) is not None
    assert resolve(["revalue", "--at"]) is None
    assert resolve(["alerts", "ack"]) is None
