"""Fuzz the service against its own OpenAPI document with schemathesis (bounded examples)."""

from __future__ import annotations

import schemathesis
from hypothesis import HealthCheck, given, settings

from gristmill.serving import create_app

TOKEN = "fuzz-token"


def test_api_honours_its_openapi_document(tracking_uri, tmp_path) -> None:  # noqa: ANN001
    app = create_app("kw@champion", tracking_uri=tracking_uri, log_path=tmp_path / "log.sqlite",
                     token=TOKEN, poll_interval=0, max_records=50)
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert {(op.method.upper(), op.path) for op in operations} == {
        ("POST", "/predict"), ("POST", "/feedback"), ("GET", "/health"), ("GET", "/metadata")
    }
    for operation in operations:
        @given(case=operation.as_strategy())
        @settings(max_examples=30, deadline=None, database=None,
                  suppress_health_check=list(HealthCheck))
        def fuzz(case) -> None:  # noqa: ANN001
            case.call_and_validate(headers={"Authorization": f"Bearer {TOKEN}"})

        fuzz()
