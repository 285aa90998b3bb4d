"""The declarative pipeline: the spec (``gristmill.yaml``) and the cached stage runner."""

from gristmill.pipeline._cache import StageCache
from gristmill.pipeline._runner import (
    Pipeline,
    PipelineResult,
    PlanStep,
    StageRecord,
    TaskResult,
)
from gristmill.pipeline._spec import PipelineSpec, load_spec, spec_json_schema

__all__ = [
    "Pipeline",
    "PipelineResult",
    "PipelineSpec",
    "PlanStep",
    "StageCache",
    "StageRecord",
    "TaskResult",
    "load_spec",
    "spec_json_schema",
]
