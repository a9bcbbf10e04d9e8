"""`python -m payplane.cli`: the same as the `payplane` command."""

from payplane.cli.main import app

app()
