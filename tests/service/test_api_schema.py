"""The API against its own OpenAPI document, with schemathesis on SQLite and PostgreSQL.

For every operation, valid and invalid inputs generated from the document (a fixed seed,
a bounded number of examples) must never fail the server (5xx), and every answer must have
a documented status, content type and body shape. POST /statements is included: garbage is
refused (422) and nothing can be appended without an officer's signature.
"""

from __future__ import annotations

from typing import Any, Final

import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis.checks import not_a_server_error
from schemathesis.generation import GenerationMode
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.custody.conftest import custody  # noqa: F401
from tests.service.test_api import Api
from tests.service.test_api_reads import reads  # noqa: F401

EXAMPLES_PER_OPERATION_MAX: Final = 25  # per operation and mode (valid, invalid)
OPERATIONS_MIN: Final = 18
CHECKS: Final = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


def _fuzz(operation: Any, mode: GenerationMode, headers: dict[str, str]) -> None:
    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(
        max_examples=EXAMPLES_PER_OPERATION_MAX,
        derandomize=True,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    def run(case: Any) -> None:
        case.call_and_validate(headers=headers, checks=CHECKS)

    run()


def test_the_api_keeps_its_document(reads: Api) -> None:  # noqa: F811
    # schemathesis's pytest loader (`from_fixture`) does not run under pytest 9, so each
    # operation's strategies are driven with hypothesis directly: same checks, fixed seed.
    schema = schemathesis.openapi.from_asgi("/openapi.json", reads.client.app)
    # The admin's token may do everything, so every operation is reached past the role check.
    headers = {"Authorization": f"Bearer {reads.tokens['admin']}"}
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= OPERATIONS_MIN
    for operation in operations:
        _fuzz(operation, GenerationMode.POSITIVE, headers)
        try:
            _fuzz(operation, GenerationMode.NEGATIVE, headers)
        except Unsatisfiable:  # nothing to make invalid: no parameter, no body
            if operation.path_parameters or operation.query or operation.body:
                raise
