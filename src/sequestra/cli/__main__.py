"""`python -m sequestra.cli` runs the `sequestra` command."""

from sequestra.cli.main import run

run()
