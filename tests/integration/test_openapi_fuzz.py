"""Schemathesis against a live `bosun up`: every operation of `/openapi.json`, bounded examples.

Fails on any 5xx, any status the document does not list, any body that does not match its documented
schema or content type (issue #13: "OpenAPI must match the wire"). Examples are bounded so the whole run
stays well under 90 s on two cores; every operation is still exercised.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

from tests.integration.test_up_support import Up, http_get

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
EXAMPLES = 40


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Up]:
    running = Up(Path(tmp_path_factory.mktemp("fuzz")) / "data").start()
    yield running
    running.stop()


def fuzz(operation: Any, token: str, mode: GenerationMode, examples: int) -> None:
    """Hypothesis over one operation's generated cases (schemathesis' own strategy, no pytest plugin);
    NEGATIVE cases break the documented schema on purpose: they must get documented 4xx, never a 5xx."""

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(
        max_examples=examples,
        deadline=None,
        derandomize=True,
        database=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    def run(case: Any) -> None:
        if case.path == "/v1/watch":  # an endless stream otherwise: end it after the initial state
            case.query = {**(case.query or {}), "timeoutSeconds": 0}
        case.call_and_validate(headers={"Authorization": f"Bearer {token}"}, checks=CHECKS, timeout=20)

    run()


def test_every_operation_keeps_its_documented_contract(live: Up) -> None:
    schema = schemathesis.openapi.from_url(live.url + "/openapi.json")
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 14
    failures: dict[str, str] = {}
    for operation in operations:
        for mode, examples in ((GenerationMode.POSITIVE, EXAMPLES), (GenerationMode.NEGATIVE, EXAMPLES // 2)):
            try:
                fuzz(operation, live.token, mode, examples)
            except Unsatisfiable:  # nothing to break: the operation takes no parameters and no body
                assert mode is GenerationMode.NEGATIVE and not operation.definition.raw.get("parameters")
            except Exception as e:  # noqa: BLE001 - collect every operation's failure, then report them all
                failures[f"{operation.method.upper()} {operation.path} ({mode.value})"] = str(e)[:3000]
    assert not failures, "\n\n".join(f"{op}:\n{why}" for op, why in failures.items())


def test_document_lists_the_error_shape_and_bodies(live: Up) -> None:
    code, doc = http_get(live.url + "/openapi.json")
    assert code == 200
    put = doc["paths"]["/v1/namespaces/{ns}/{kind}/{name}"]["put"]
    assert {"202", "400", "401", "403", "404", "409", "413", "415", "422", "431", "503"} <= set(
        put["responses"]
    )
    assert put["responses"]["400"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/ErrorBody"
    }
    assert "status_code" not in str(doc["components"]["schemas"])
    assert set(put["requestBody"]["content"]) == {"application/json", "application/yaml"}
    assert "requestBody" in doc["paths"]["/v1/diff"]["post"]
    limit = next(p for p in doc["paths"]["/v1/audit"]["get"]["parameters"] if p["name"] == "limit")
    assert limit["schema"].get("maximum") == 1000
