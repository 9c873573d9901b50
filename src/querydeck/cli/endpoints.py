"""``querydeck endpoints``: model endpoints (list, add, show, edit, remove, test, invoke) and
``querydeck endpoints log``: the inference log."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Annotated

import typer
from pydantic import BaseModel, ValidationError
from rich import box
from rich.table import Table
from rich.text import Text

from querydeck.cli.common import (
    InfoFormat,
    message,
    milliseconds,
    open_workbench,
    page_footer,
    print_json,
    stdout_console,
    timestamp,
    write_stdout,
)
from querydeck.errors import InvalidInput

if TYPE_CHECKING:
    from querydeck.assistant.models import EndpointInfo

app = typer.Typer(
    help="Model endpoints (OpenAI-compatible servers) and the inference log.",
    no_args_is_help=True,
)
Name = Annotated[str, typer.Argument(help="The endpoint's name.")]
KEY_ENV = "QUERYDECK_MODEL_API_KEY"


def _valid(model: type[BaseModel], values: dict[str, object]) -> BaseModel:
    try:
        return model.model_validate(values)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        raise InvalidInput(f"Invalid endpoint: {problems}.") from None


def _key(from_env: bool) -> str | None:
    """An API key is read from the environment, never from the command line (it would be
    in the shell history and the process list)."""
    if not from_env:
        return None
    key = os.environ.get(KEY_ENV)
    if not key:
        raise InvalidInput(f"--api-key-from-env reads {KEY_ENV}, which is not set.")
    return key


def endpoint_table(info: EndpointInfo) -> Table:
    table = Table.grid(padding=(0, 2))
    table.add_column(style="bold")
    table.add_column()
    caps = info.capabilities
    found = [
        name
        for name, on in (
            ("chat", caps.chat),
            ("json", caps.json_output),
            ("embeddings", caps.embeddings),
        )
        if on
    ]
    for name, value in (
        ("name", info.name),
        ("kind", info.kind + (" (default)" if info.default else "")),
        ("base url", info.base_url),
        ("model", info.model),
        ("api key", "set" if info.has_api_key else "none"),
        ("timeout", f"{info.timeout_s:g} s"),
        ("max tokens", str(info.max_tokens)),
        ("rate limit", info.rate_limit or "-"),
        (
            "capabilities",
            (", ".join(found) or "none")
            + (f", dimension {caps.dimension}" if caps.dimension else "")
            + (f" (probe failed: {caps.error_code})" if caps.error_code else "")
            if caps.probed_at
            else "not probed",
        ),
    ):
        table.add_row(name, Text(value))
    return table


@app.command("list")
def list_endpoints(
    fmt: Annotated[InfoFormat, typer.Option("--format", "-f")] = InfoFormat.table,
) -> None:
    """List the registered endpoints."""
    with open_workbench() as workbench:
        page = workbench.assistant.endpoints.listing(limit=1000)
    if fmt is InfoFormat.json:
        print_json(page)
        return
    table = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False)
    for column in ("name", "kind", "model", "base url", "default"):
        table.add_column(column, no_wrap=True, overflow="ellipsis")
    for e in page.items:
        table.add_row(
            Text(e.name), e.kind, Text(e.model), Text(e.base_url), "yes" if e.default else ""
        )
    if page.items:
        stdout_console().print(table)
    page_footer(len(page.items), 0, page.total, "endpoints")


@app.command("add")
def add(
    name: Name,
    base_url: Annotated[str, typer.Option("--url", help="The OpenAI-compatible base URL.")],
    model: Annotated[str, typer.Option("--model", "-m", help="The model name.")],
    kind: Annotated[str, typer.Option("--kind", help="chat or embeddings.")] = "chat",
    api_key_from_env: Annotated[
        bool, typer.Option("--api-key-from-env", help=f"Read the API key from {KEY_ENV}.")
    ] = False,
    timeout_s: Annotated[float, typer.Option("--timeout", min=0.001, max=600)] = 60.0,
    max_tokens: Annotated[int, typer.Option("--max-tokens", min=16)] = 1024,
    rate_limit: Annotated[str, typer.Option("--rate-limit", help="e.g. 60/minute")] = "",
    default: Annotated[bool, typer.Option("--default", help="The default of its kind.")] = False,
) -> None:
    """Register a model endpoint (its address must be allowed by the outbound policy)."""
    from querydeck.assistant.models import EndpointInput

    values = _valid(
        EndpointInput,
        {
            "name": name,
            "kind": kind,
            "base_url": base_url,
            "model": model,
            "api_key": _key(api_key_from_env),
            "timeout_s": timeout_s,
            "max_tokens": max_tokens,
            "rate_limit": rate_limit,
            "default": default,
        },
    )
    with open_workbench() as workbench:
        info = workbench.assistant.endpoints.create(values)  # type: ignore[arg-type]
    message(f"added endpoint {info.name!r} ({info.id})")


@app.command("show")
def show(
    name: Name, fmt: Annotated[InfoFormat, typer.Option("--format", "-f")] = InfoFormat.table
) -> None:
    """Show one endpoint (never its key)."""
    with open_workbench() as workbench:
        info = workbench.assistant.endpoints.get(name)
    if fmt is InfoFormat.json:
        print_json(info)
    else:
        stdout_console().print(endpoint_table(info))


@app.command("edit")
def edit(
    name: Name,
    base_url: Annotated[str | None, typer.Option("--url")] = None,
    model: Annotated[str | None, typer.Option("--model", "-m")] = None,
    api_key_from_env: Annotated[
        bool, typer.Option("--api-key-from-env", help=f"Set the key from {KEY_ENV}.")
    ] = False,
    remove_api_key: Annotated[bool, typer.Option("--remove-api-key")] = False,
    timeout_s: Annotated[float | None, typer.Option("--timeout", min=0.001, max=600)] = None,
    max_tokens: Annotated[int | None, typer.Option("--max-tokens", min=16)] = None,
    rate_limit: Annotated[str | None, typer.Option("--rate-limit")] = None,
    default: Annotated[bool | None, typer.Option("--default/--not-default")] = None,
) -> None:
    """Change an endpoint."""
    from querydeck.assistant.models import EndpointChanges

    values: dict[str, object] = {
        k: v
        for k, v in {
            "base_url": base_url,
            "model": model,
            "timeout_s": timeout_s,
            "max_tokens": max_tokens,
            "rate_limit": rate_limit,
            "default": default,
        }.items()
        if v is not None
    }
    if remove_api_key:
        values["api_key"] = ""
    elif api_key_from_env:
        values["api_key"] = _key(True)
    changes = _valid(EndpointChanges, values)
    with open_workbench() as workbench:
        info = workbench.assistant.endpoints.update(name, changes)  # type: ignore[arg-type]
    message(f"changed endpoint {info.name!r}")


@app.command("remove")
def remove(name: Name) -> None:
    """Remove an endpoint."""
    with open_workbench() as workbench:
        workbench.assistant.endpoints.delete(name)
    message(f"removed endpoint {name!r}")


@app.command("test")
def test(name: Name) -> None:
    """Probe an endpoint's capabilities and keep them."""
    with open_workbench() as workbench:
        info = workbench.assistant.endpoints.test(name)
    stdout_console().print(endpoint_table(info))


@app.command("invoke")
def invoke(
    name: Name,
    text: Annotated[str, typer.Argument(help="The user message (chat) or text (embeddings).")],
    system: Annotated[str | None, typer.Option("--system", help="A system message.")] = None,
    json_output: Annotated[bool, typer.Option("--json-output")] = False,
) -> None:
    """Call an endpoint once with a message (logged like any call)."""
    from querydeck.assistant.models import InvokeInput, Message

    with open_workbench() as workbench:
        kind = workbench.assistant.endpoints.get(name).kind
        if kind == "embeddings":
            values = InvokeInput(input=[text])
        else:
            messages = [Message(role="system", content=system)] if system else []
            messages.append(Message(role="user", content=text))
            values = InvokeInput(messages=messages, json_output=json_output)
        result = workbench.assistant.endpoints.invoke(name, values)
    if result.embeddings is not None:
        print_json(result)
    else:
        write_stdout((result.content or "") + "\n")
        message(
            f"{result.tokens_in or 0} tokens in, {result.tokens_out or 0} out · "
            f"{milliseconds(result.latency_ms)}"
        )


@app.command("log")
def log(
    everyone: Annotated[bool, typer.Option("--all", help="Every user's entries.")] = False,
    user: Annotated[str | None, typer.Option("--user", help="One user's entries.")] = None,
    purpose: Annotated[str | None, typer.Option("--purpose")] = None,
    limit: Annotated[int, typer.Option(min=1, max=1000)] = 20,
    offset: Annotated[int, typer.Option(min=0)] = 0,
    fmt: Annotated[InfoFormat, typer.Option("--format", "-f")] = InfoFormat.table,
) -> None:
    """The inference log, newest first."""
    with open_workbench() as workbench:
        page = workbench.assistant.endpoints.inference_log(
            limit=limit, offset=offset, everyone=everyone, user=user, purpose=purpose
        )
    if fmt is InfoFormat.json:
        print_json(page)
        return
    table = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False)
    for column in ("at", "user", "endpoint", "purpose", "status", "latency", "tokens"):
        table.add_column(column, no_wrap=True)
    for e in page.items:
        table.add_row(
            timestamp(e.at),
            Text(e.user),
            Text(e.endpoint),
            e.purpose,
            e.status if e.error_code is None else e.error_code,
            milliseconds(e.latency_ms),
            f"{e.tokens_in or 0}/{e.tokens_out or 0}",
        )
    if page.items:
        stdout_console().print(table)
    page_footer(len(page.items), offset, page.total, "entries")
