"""Schemathesis over the served OpenAPI document, against a real server process: for every
operation of every dialect, generated requests (authenticated as the dialect does, with the
account's own path ids) never get a 5xx, and every answer matches the document: a documented
status, its media type, its body's schema, its headers.

Bounded to fit the test budget (``FUZZ_EXAMPLES`` cases per operation, 15 by default); the
longer run is ``make fuzz`` (docs/benchmarks.md)."""

from __future__ import annotations

import base64
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from benchmarks.server import Server, prepare_database
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from convroute.domain.models import SignatureMethod
from convroute.domain.signatures import sign

ADMIN = "fuzz-operator-token-0123456789"
EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "15"))
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    response_headers_conformance,
]


@pytest.fixture(scope="module")
def fuzzed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, dict[str, Any]]]:
    path: Path = tmp_path_factory.mktemp("fuzz") / "fuzz.db"
    url = f"sqlite:///{path}"
    creds = prepare_database(url)
    env = {
        "CONVROUTE_ADMIN_TOKEN": ADMIN,
        # the fuzzer fails authentication on purpose: lockouts would hide the endpoints
        "CONVROUTE_AUTH_FAILURES_PER_KEY": "0",
        "CONVROUTE_AUTH_FAILURES_PER_ADDRESS": "0",
    }
    server = Server(url, env=env, log=path.with_suffix(".log")).start()
    try:
        yield server, creds["credentials"]  # type: ignore[misc]
    finally:
        server.stop()


def _authenticate(case: Any, creds: dict[str, Any]) -> dict[str, str]:
    """The case made to authenticate as its operation's dialect does; the headers to send."""
    path: str = case.path
    security = case.operation.definition.raw.get("security") or [{}]
    scheme = next(iter(security[0]), None) if security else None
    if scheme == "basic":
        plivo = creds["plivo"]
        case.path_parameters = {**(case.path_parameters or {}), "auth_id": plivo["auth_id"]}
        return {"Authorization": _basic(plivo["auth_id"], plivo["auth_token"])}
    if scheme == "vonageBasic":
        vonage = creds["vonage"]
        return {"Authorization": _basic(vonage["api_key"], vonage["api_secret"])}
    if scheme == "twilio":
        twilio = creds["twilio"]
        if "account_sid" in (case.path_parameters or {}):
            case.path_parameters = {**case.path_parameters, "account_sid": twilio["account_sid"]}
        return {"Authorization": _basic(twilio["account_sid"], twilio["auth_token"])}
    if scheme == "accessKey":
        bird = creds["bird"]
        case.path_parameters = {**(case.path_parameters or {}), "workspaceId": bird["workspace_id"]}
        return {"Authorization": f"AccessKey {bird['access_key']}"}
    if scheme == "vonage":
        vonage = creds["vonage"]
        query = {k: v for k, v in (case.query or {}).items() if k not in ("sig", "api_secret")}
        query["api_key"] = vonage["api_key"]
        if path == "/sms/json":  # signed, as the SDKs sign
            query["timestamp"] = str(int(time.time()))
            query["sig"] = sign(
                {k: str(v) for k, v in query.items()},
                vonage["signature_secret"],
                SignatureMethod(vonage["signature_method"]),
            )
        else:
            query["api_secret"] = vonage["api_secret"]
        case.query = query
        return {}
    if scheme == "bearer":
        operator = ("/api/v1/routes", "/api/v1/accounts", "/api/v1/simulated")
        token = ADMIN if path.startswith(operator) else None
        return {"Authorization": f"Bearer {token or creds['native']['token']}"}
    return {}


def _basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def test_every_operation_answers_as_documented(fuzzed: tuple[Server, dict[str, Any]]) -> None:
    server, creds = fuzzed
    schema = schemathesis.openapi.from_url(server.base_url + "/openapi.json")
    failures: list[str] = []
    statuses: dict[int, int] = {}
    operations = 0
    for result in schema.get_all_operations():
        operation = result.ok()
        operations += 1

        @given(case=operation.as_strategy())
        @settings(
            max_examples=EXAMPLES,
            deadline=None,
            suppress_health_check=list(HealthCheck),
            derandomize=True,
            database=None,
        )
        def run(case: Any) -> None:
            headers = _authenticate(case, creds)
            response = case.call_and_validate(
                base_url=server.base_url, headers=headers, checks=CHECKS
            )
            statuses[response.status_code] = statuses.get(response.status_code, 0) + 1

        try:
            run()
        except Exception as exc:  # every operation is tried; all failures are reported
            failures.append(f"{operation.label}: {exc}")
    print(f"fuzz: {operations} operations, answers by status: {dict(sorted(statuses.items()))}")
    assert operations >= 30
    assert sum(statuses.values()) >= operations * min(EXAMPLES, 3)
    assert any(200 <= s < 300 for s in statuses)  # the fuzzer got past authentication
    assert not failures, "\n\n".join(failures)
