"""Shared set-up of the assistant tests: the question sets and a Workbench with the demo
connections whose settings let model endpoints on loopback (the tests' model server)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from pydantic import SecretStr

from querydeck.app.workbench import Workbench
from querydeck.assistant.models import EndpointInput
from querydeck.settings import load_settings

QUESTIONS = Path(__file__).parent / "fixtures" / "assistant"


def questions(name: str) -> list[dict[str, str]]:
    """The question set ``name`` (``chinook`` or ``tpch``)."""
    lines = (QUESTIONS / f"{name}.jsonl").read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines if line.strip()]


def gold(name: str) -> dict[str, str]:
    return {q["question"]: q["sql"] for q in questions(name)}


def demo_workbench(data_dir: Path, demo_files: Path, **settings: object) -> Workbench:
    """A Workbench over a copy of the demo files, loopback model servers allowed."""
    shutil.copytree(demo_files, data_dir / "demo")
    values = {"data_dir": data_dir, "assistant_allow_loopback": True, **settings}
    wb = Workbench(load_settings(**values)).open()
    wb.admin.create_demo()
    return wb


def add_endpoint(
    wb: Workbench, url: str, name: str = "local", *, kind: str = "chat", **extra: object
) -> None:
    values = {"name": name, "kind": kind, "base_url": url, "model": "scripted", **extra}
    if "api_key" in values and isinstance(values["api_key"], str):
        values["api_key"] = SecretStr(values["api_key"])
    wb.assistant.endpoints.create(EndpointInput.model_validate(values))
