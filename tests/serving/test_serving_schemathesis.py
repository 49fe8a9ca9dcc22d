"""Property-based run of the app's own OpenAPI schema over HTTP: no 5xx, no response off the schema.

Schema-valid requests may still be refused with 422: how many bars a decision needs depends
on the loaded models' window, and OHLC consistency spans several fields, so neither can be
written into the schema. That one check (``positive_data_acceptance``) is left out; every
other check runs, on schema-valid and on deliberately invalid requests.
"""

from __future__ import annotations

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode
from schemathesis.specs.openapi.checks import positive_data_acceptance
from serving_support import AUTH


def run_operation(operation: schemathesis.APIOperation, mode: GenerationMode, examples: int) -> None:
    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(max_examples=examples, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
    def check(case: schemathesis.Case) -> None:
        case.call_and_validate(headers=AUTH, excluded_checks=[positive_data_acceptance])

    check()


@pytest.mark.slow
def test_every_operation_keeps_its_contract(client: httpx.Client) -> None:
    schema = schemathesis.openapi.from_url(f"{client.base_url}/openapi.json", headers=AUTH)
    operations = [result.ok() for result in schema.get_all_operations()]
    labels = {operation.label for operation in operations}
    assert {"POST /v1/decisions", "POST /v1/decisions/batch", "GET /v1/allocations/latest"} <= labels
    failures = {}
    for operation in operations:
        # Only operations that take a body have inputs to get wrong.
        modes = list(GenerationMode) if operation.method.upper() == "POST" else [GenerationMode.POSITIVE]
        for mode in modes:
            try:
                run_operation(operation, mode, examples=30)
            except Exception as exc:  # collect every operation's failure, then report them together
                failures[f"{operation.label} ({mode.value})"] = str(exc)[:2000]
    assert not failures, "\n\n".join(f"{label}:\n{text}" for label, text in failures.items())
