"""Schemathesis against a live sqmy server: every operation in its OpenAPI schema, schema-valid and schema-violating
data, all of Schemathesis' checks (no 5xx, documented status codes, content types and headers, responses that match
their schema, schema-violating requests rejected). Used by tests/service/api/test_robustness.py (a few examples per
operation) and bench/robustness.py (many)."""

from __future__ import annotations

import contextlib
import warnings
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import schemathesis
from hypothesis import HealthCheck, Phase, given, seed, settings
from hypothesis.errors import HypothesisException
from schemathesis.specs.openapi.checks import positive_data_acceptance

MODES = (schemathesis.GenerationMode.POSITIVE, schemathesis.GenerationMode.NEGATIVE)
# Left out: "schema-valid data must be accepted". The service's rules go beyond what a schema says, by design: a
# topic or unit must exist in the taxonomy / directory, text must hold a visible character and stay under
# SQMY_MAX_TEXT_CHARS, feedback needs text or the id of a stored classification, an upload needs a known file type.
# Such input gets a 4xx naming the field (checked by the bad-input table), which this check would call a failure.
EXCLUDED_CHECKS = [positive_data_acceptance]


@dataclass
class FuzzReport:
    requests: int = 0
    statuses: Counter[int] = field(default_factory=Counter)
    per_operation: Counter[str] = field(default_factory=Counter)
    failures: dict[str, list[str]] = field(default_factory=dict)  # "METHOD /path" → first lines of failed checks

    @property
    def server_errors(self) -> int:
        return sum(n for status, n in self.statuses.items() if status >= 500)

    def failed(self, label: str, message: str) -> None:
        self.failures.setdefault(label, []).append(message)


def _spare_keys(case: Any, keep_key_ids: tuple[int, ...]) -> None:
    """Never let the run revoke the keys it (or the tests after it) run with: DELETE /v1/keys/{one of them}."""
    if case.method.upper() == "DELETE" and str(case.path_parameters.get("key_id")) in map(str, keep_key_ids):
        case.path_parameters["key_id"] = 2**62


def _summary(exc: BaseException) -> str:
    text = str(exc).strip()
    return "\n".join(text.splitlines()[:12])


def fuzz(base_url: str, headers: dict[str, str], *, examples: int, run_seed: int = 15,
         keep_key_ids: tuple[int, ...] = (), timeout: float = 60.0) -> FuzzReport:
    """``examples`` cases per operation and generation mode; failures are collected, not raised."""
    schema = schemathesis.openapi.from_url(f"{base_url}/openapi.json", timeout=timeout)
    report = FuzzReport()
    for result in schema.get_all_operations():
        operation = result.ok()
        for mode in MODES:
            _fuzz_operation(operation, mode, report, base_url, headers, examples, run_seed, keep_key_ids, timeout)
    return report


def _fuzz_operation(operation: Any, mode: Any, report: FuzzReport, base_url: str, headers: dict[str, str],
                    examples: int, run_seed: int, keep_key_ids: tuple[int, ...], timeout: float) -> None:
    label = f"{operation.method.upper()} {operation.path}"

    @seed(run_seed)
    @settings(max_examples=examples, deadline=None, database=None, phases=[Phase.generate],
              suppress_health_check=list(HealthCheck))
    @given(operation.as_strategy(generation_mode=mode))
    def run(case: Any) -> None:
        _spare_keys(case, keep_key_ids)
        try:
            response = case.call(base_url=base_url, headers=headers, timeout=timeout)
        except Exception as exc:  # a dropped connection counts as a failure, not as an answer
            report.failed(label, f"request failed: {_summary(exc)}")
            return
        report.requests += 1
        report.statuses[response.status_code] += 1
        report.per_operation[label] += 1
        try:
            case.validate_response(response, headers=headers, excluded_checks=EXCLUDED_CHECKS)
        except (Exception, BaseExceptionGroup) as exc:  # Schemathesis' FailureGroup is an exception group
            report.failed(label, f"[{mode.value}] {_summary(exc)}")

    # HypothesisException: e.g. no schema-violating input exists for an operation without parameters
    with warnings.catch_warnings(), contextlib.suppress(HypothesisException):
        warnings.simplefilter("ignore")
        run()
