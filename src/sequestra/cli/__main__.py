"""`python -m sequestra.cli` runs the `sequestra` command."""

from sequestra.cli.main import app

app()
