"""``querydeck keys rotate``: re-seal every stored secret with a new key."""

from __future__ import annotations

import typer

from querydeck.cli.common import message, open_workbench

app = typer.Typer(help="Manage the key that encrypts stored credentials.", no_args_is_help=True)


@app.command("rotate")
def rotate() -> None:
    """Generate a new key, re-seal every stored secret with it in one transaction and
    replace the key file atomically (stop running servers first: they hold the old key)."""
    with open_workbench() as workbench:
        result = workbench.admin.rotate_key()
    message(
        f"Rotated the secret key: {result.connections} connection(s) re-sealed; "
        f"new key fingerprint {result.fingerprint}."
    )
