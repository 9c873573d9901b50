"""SECURITY_TESTS H8: schemathesis over the OpenAPI schema, authenticated and not — no 5xx,
and every response valid against the schema (status, content type, headers, body).

The schema is loaded from the running app inside the test (schemathesis' pytest loader
needs the app at import time, which would start a Workbench in every xdist worker)."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import positive_data_acceptance

from querydeck.api import create_app
from querydeck.app.workbench import Workbench
from querydeck.settings import load_settings
from tests.apiauth import bearer_token

EXAMPLES = 8


def _fuzz(schema: Any, headers: dict[str, str]) -> list[str]:
    failures: list[str] = []
    for result in schema.get_all_operations():
        operation = result.ok()

        @given(case=operation.as_strategy())
        @settings(
            max_examples=EXAMPLES,
            deadline=None,
            derandomize=True,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        def check(case: Any) -> None:
            # Schema-valid input may still be refused by rules the schema cannot say (SQL
            # that must parse, names without control characters): not a failure here.
            case.call_and_validate(headers=headers, excluded_checks=[positive_data_acceptance])

        try:
            check()
        except Exception as exc:  # one entry per failing operation, then go on
            text = str(exc).strip()
            failures.append(f"{operation.method.upper()} {operation.path}: {text[:1500]}")
    return failures


def test_schemathesis_anonymous_and_authenticated(data_dir: Path, demo_files: Path) -> None:
    shutil.copytree(demo_files, data_dir / "demo")  # built once per process
    settings_ = load_settings(
        data_dir=data_dir,
        connect_timeout_s=1,
        file_roots=[data_dir / "demo"],
        rate_limit_login_user="",
        rate_limit_login_address="",
        rate_limit_runs_user="",
        rate_limit_runs_address="",
    )
    with Workbench(settings_) as workbench:
        workbench.admin.create_demo()
        app = create_app(workbench)
        schema = schemathesis.openapi.from_asgi("/api/v1/openapi.json", app)
        failures = _fuzz(schema, {})
        failures += _fuzz(schema, {"Authorization": f"Bearer {bearer_token(workbench)}"})
    assert not failures, "\n".join(failures)
