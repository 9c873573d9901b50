"""``querydeck certificates``: upload, list, show and remove CA certificates that
connections verify their servers with (option ``ssl_ca_certificate=ID``)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer
from rich import box
from rich.table import Table
from rich.text import Text

from querydeck.cli.common import (
    InfoFormat,
    message,
    open_workbench,
    page_footer,
    print_json,
    stdout_console,
    timestamp,
)
from querydeck.errors import CertificateTooLarge, FileUnreadable
from querydeck.sources.models import CertificateInfo
from querydeck.sources.pem import MAX_PEM_BYTES

app = typer.Typer(
    help="CA certificates that connections verify their servers with.", no_args_is_help=True
)
CertificateId = Annotated[str, typer.Argument(metavar="ID", help="The certificate's id.")]


def _read(file: str) -> bytes:
    """The upload's bytes from FILE (``-``: stdin), read no further than the limit."""
    try:
        if file == "-":
            data = sys.stdin.buffer.read(MAX_PEM_BYTES + 1)
        else:
            with Path(file).open("rb") as handle:
                data = handle.read(MAX_PEM_BYTES + 1)
    except OSError as exc:
        raise FileUnreadable(
            f"Cannot read {Path(file).name!r}: {exc.strerror or 'unreadable'}.",
        ) from None
    if len(data) > MAX_PEM_BYTES:
        raise CertificateTooLarge(
            f"A certificate upload has at most {MAX_PEM_BYTES} bytes.",
            detail={"limit": MAX_PEM_BYTES},
        )
    return data


def certificate_table(info: CertificateInfo) -> Table:
    table = Table.grid(padding=(0, 2))
    table.add_column(style="bold")
    table.add_column()
    rows = [
        ("id", info.id),
        ("name", info.name),
        ("subject", info.subject),
        ("issuer", info.issuer),
        ("valid", f"{timestamp(info.not_before)} to {timestamp(info.not_after)}"),
        ("expired", "yes" if info.expired else "no"),
        ("sha256", info.fingerprint_sha256),
        ("certificates", str(info.count)),
        ("used by", ", ".join(info.used_by)),
    ]
    for name, value in rows:
        table.add_row(name, Text(value))
    return table


def _print(info: CertificateInfo, fmt: InfoFormat) -> None:
    if fmt is InfoFormat.json:
        print_json(info)
    else:
        stdout_console().print(certificate_table(info))


@app.command("add")
def add(
    name: Annotated[str, typer.Argument(help="A unique name for the certificate.")],
    file: Annotated[
        str, typer.Argument(metavar="FILE", help="PEM file of CA certificate(s); - reads stdin.")
    ],
    fmt: Annotated[InfoFormat, typer.Option("--format", "-f")] = InfoFormat.table,
) -> None:
    """Upload CA certificate(s); private keys, non-CA and expired certificates are refused."""
    data = _read(file)
    with open_workbench() as workbench:
        info = workbench.admin.add_certificate(name, data)
    _print(info, fmt)
    message(f"Stored certificate {info.name!r}; use it with --option ssl_ca_certificate={info.id}")


@app.command("list")
def list_certificates(
    limit: Annotated[int, typer.Option(min=1, max=1000)] = 100,
    offset: Annotated[int, typer.Option(min=0)] = 0,
    fmt: Annotated[InfoFormat, typer.Option("--format", "-f")] = InfoFormat.table,
) -> None:
    """Uploaded certificates with subject, expiry, fingerprint and the connections using them."""
    with open_workbench() as workbench:
        page = workbench.admin.list_certificates(limit=limit, offset=offset)
    if fmt is InfoFormat.json:
        print_json(page)
        return
    table = Table(box=box.SIMPLE_HEAD)
    for column in ("id", "name", "subject", "not after", "sha256", "used by"):
        table.add_column(column)
    for info in page.items:
        table.add_row(
            info.id,
            Text(info.name),
            Text(info.subject),
            timestamp(info.not_after) + (" (expired)" if info.expired else ""),
            info.fingerprint_sha256[:23] + "…",
            Text(", ".join(info.used_by)),
        )
    stdout_console().print(table)
    page_footer(len(page.items), offset, page.total, "certificates")


@app.command("show")
def show(
    certificate_id: CertificateId,
    fmt: Annotated[InfoFormat, typer.Option("--format", "-f")] = InfoFormat.table,
) -> None:
    """One certificate bundle in full."""
    with open_workbench() as workbench:
        info = workbench.admin.get_certificate(certificate_id)
    _print(info, fmt)


@app.command("remove")
def remove(certificate_id: CertificateId) -> None:
    """Remove a certificate no connection uses."""
    with open_workbench() as workbench:
        workbench.admin.remove_certificate(certificate_id)
    message(f"Removed certificate {certificate_id}.")
