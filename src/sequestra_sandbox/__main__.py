"""`python -m sequestra_sandbox` runs the `sequestra-sandbox` command."""

from sequestra_sandbox.cli import app

app()
