"""Spec validation: valid specs load; each mistake gives one clear error naming key and line."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
import yaml

import gristmill
from gristmill.exceptions import SpecError
from gristmill.pipeline import Pipeline, load_spec, spec_json_schema


def _edit(project: Path, change) -> Path:
    path = project / "gristmill.yaml"
    spec = yaml.safe_load(path.read_text())
    change(spec)
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    return path


def _line_of(path: Path, text: str) -> int:
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        if text in line:
            return number
    raise AssertionError(text)


def test_valid_spec_loads_with_defaults(project: Path) -> None:
    spec, _ = load_spec(project / "gristmill.yaml")
    assert spec.name == "toy"
    assert spec.task_name == "spam"
    assert spec.task.label_model_spec.name == "auto"
    assert spec.model_spec.metric == "accuracy"
    assert spec.payload_specs["text"].kind == "text"
    pipeline = gristmill.Pipeline.from_yaml(project / "gristmill.yaml")
    assert pipeline.spec.data.id == "cid"


def test_unknown_key_names_key_path_and_line(project: Path) -> None:
    path = _edit(project, lambda s: s["tasks"]["spam"]["supervision"].update(lf=["x.py"]))
    with pytest.raises(SpecError) as info:
        Pipeline.from_yaml(path)
    message = str(info.value)
    assert "tasks.spam.supervision.lf" in message
    assert "unknown key 'lf'" in message
    assert f"gristmill.yaml:{_line_of(path, 'lf:')}:" in message
    assert message.count("\n") == 0  # one error, one line


def test_union_errors_point_at_the_real_key(project: Path) -> None:
    path = _edit(project, lambda s: s["payloads"].update(stars={"kind": "numeric", "min_df": 2}))
    with pytest.raises(SpecError, match=r"payloads\.stars: .*text payloads only"):
        Pipeline.from_yaml(path)


def test_missing_required_section(project: Path) -> None:
    path = _edit(project, lambda s: s.pop("data"))
    with pytest.raises(SpecError, match="missing required key 'data'"):
        Pipeline.from_yaml(path)


def test_task_without_supervision(project: Path) -> None:
    path = _edit(project, lambda s: s["tasks"]["spam"].pop("supervision"))
    with pytest.raises(SpecError, match=r"tasks\.spam: the task has no supervision"):
        Pipeline.from_yaml(path)


def test_several_tasks_and_multilabel_specs_load(
    two_task_project: Path, multilabel_project: Path
) -> None:
    spec, _ = load_spec(two_task_project / "gristmill.yaml")
    assert spec.multitask and list(spec.tasks) == ["spam", "rating"]
    assert spec.task_name == "spam"  # the first task, for single-task code paths
    spec, _ = load_spec(multilabel_project / "gristmill.yaml")
    assert not spec.multitask and spec.task.multilabel and spec.task.label_delimiter == "|"


def test_second_task_without_supervision(two_task_project: Path) -> None:
    path = _edit(two_task_project, lambda s: s["tasks"]["rating"].pop("supervision"))
    with pytest.raises(SpecError, match=r"tasks\.rating: the task has no supervision"):
        Pipeline.from_yaml(path)


def test_duplicate_class_names_are_named(multilabel_project: Path) -> None:
    path = _edit(
        multilabel_project, lambda s: s["tasks"]["tags"].update(classes=["a", "b", "a"])
    )
    with pytest.raises(SpecError, match=r"tasks\.tags\.classes: .*\['a'\] repeat"):
        Pipeline.from_yaml(path)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda t: t.update(delimiter=","), "'delimiter' applies to multilabel tasks only"),
        (lambda t: t.update(kind="multiclass", classes=["a", "b", "c"], delimiter=";"), "only"),
    ],
)
def test_delimiter_only_for_multilabel(project: Path, change, message: str) -> None:
    path = _edit(project, lambda s: change(s["tasks"]["spam"]))
    with pytest.raises(SpecError, match=message):
        Pipeline.from_yaml(path)


def test_multilabel_class_holding_the_delimiter(multilabel_project: Path) -> None:
    path = _edit(
        multilabel_project, lambda s: s["tasks"]["tags"].update(classes=["music|pop", "money"])
    )
    with pytest.raises(SpecError, match=r"\['music\|pop'\] contain the label delimiter"):
        Pipeline.from_yaml(path)


def test_task_names_must_fit_column_prefixes(two_task_project: Path) -> None:
    path = _edit(
        two_task_project, lambda s: s.update(tasks={"star rating": s["tasks"]["rating"]})
    )
    with pytest.raises(SpecError, match=r"task names \['star rating'\]"):
        Pipeline.from_yaml(path)


def test_precision_metric_needs_every_task_binary(multilabel_project: Path) -> None:
    path = _edit(multilabel_project, lambda s: s["model"].update(metric="precision"))
    with pytest.raises(SpecError, match=r"needs binary tasks, but \['tags'\]"):
        Pipeline.from_yaml(path)


def test_dask_engine_refuses_several_tasks(two_task_project: Path) -> None:
    # also when the engine comes from --engine (the overridden spec is validated again)
    on_pandas = Pipeline.from_yaml(two_task_project / "gristmill.yaml")
    with pytest.raises(SpecError, match="engine: dask runs specs of one task"):
        on_pandas.with_engine("dask")
    path = _edit(two_task_project, lambda s: s.update(engine="dask"))
    with pytest.raises(SpecError, match="engine: dask runs specs of one task"):
        Pipeline.from_yaml(path)


def test_multilabel_gold_outside_classes(multilabel_project: Path, monkeypatch) -> None:
    import gristmill.labeling

    monkeypatch.setattr(gristmill.labeling, "apply_lfs", lambda *a, **k: pytest.fail("ran LFs"))
    frame = pd.read_csv(multilabel_project / "test.csv")
    frame.loc[4, "tags"] = "music|sports"
    frame.to_csv(multilabel_project / "test.csv", index=False)
    with pytest.raises(SpecError) as info:
        Pipeline.from_yaml(multilabel_project / "gristmill.yaml").run(track=False)
    message = str(info.value)
    assert "tasks.tags.gold" in message and "['sports']" in message and "test data" in message


def test_second_task_gold_outside_classes(two_task_project: Path) -> None:
    frame = pd.read_csv(two_task_project / "dev.csv")
    frame.loc[0, "RATING"] = "medium"
    frame.to_csv(two_task_project / "dev.csv", index=False)
    with pytest.raises(SpecError, match=r"tasks\.rating\.gold: .*\['medium'\]"):
        Pipeline.from_yaml(two_task_project / "gristmill.yaml").plan()


def test_multilabel_lf_vote_out_of_range(multilabel_project: Path) -> None:
    lfs = multilabel_project / "lfs_tags.py"
    lfs.write_text(lfs.read_text().replace("return K + VIDEO", "return 2 * K"))
    with pytest.raises(gristmill.LFError, match=r"short_is_no_video.*votes 6.*0\.\.2 .*3\.\.5"):
        Pipeline.from_yaml(multilabel_project / "gristmill.yaml").run(track=False)


def test_binary_needs_two_classes(project: Path) -> None:
    path = _edit(project, lambda s: s["tasks"]["spam"].update(classes=["a", "b", "c"]))
    with pytest.raises(SpecError, match="exactly 2 classes"):
        Pipeline.from_yaml(path)


def test_invalid_yaml_names_line(tmp_path: Path) -> None:
    path = tmp_path / "gristmill.yaml"
    path.write_text("name: x\ndata: [unclosed\n")
    with pytest.raises(SpecError, match=r"gristmill.yaml:\d+: not valid YAML"):
        load_spec(path)


def test_missing_spec_file(tmp_path: Path) -> None:
    with pytest.raises(SpecError, match="no such spec file"):
        load_spec(tmp_path / "nope.yaml")


def test_missing_data_file_fails_before_long_work(project: Path, monkeypatch) -> None:
    import gristmill.labeling

    def forbidden(*args, **kwargs):
        raise AssertionError("LFs were applied before validation finished")

    monkeypatch.setattr(gristmill.labeling, "apply_lfs", forbidden)
    path = _edit(project, lambda s: s["data"]["dev"].update(path="nowhere.csv"))
    with pytest.raises(SpecError) as info:
        Pipeline.from_yaml(path).run(track=False)
    assert "data.dev.path" in str(info.value)
    assert "no such file" in str(info.value)
    assert f"gristmill.yaml:{_line_of(path, 'nowhere.csv')}:" in str(info.value)


def test_lf_module_that_fails_to_import(project: Path, monkeypatch) -> None:
    import gristmill.labeling

    monkeypatch.setattr(gristmill.labeling, "apply_lfs", lambda *a, **k: pytest.fail("ran LFs"))
    (project / "lfs_b.py").write_text("import no_such_module_anywhere\n")
    with pytest.raises(SpecError) as info:
        Pipeline.from_yaml(project / "gristmill.yaml").run(track=False)
    message = str(info.value)
    assert "tasks.spam.supervision.lfs[1]" in message
    assert "lfs_b.py" in message
    assert "no_such_module_anywhere" in message


def test_missing_lf_module(project: Path) -> None:
    (project / "lfs_a.py").unlink()
    with pytest.raises(SpecError, match=r"supervision\.lfs\[0\]: no such LF module"):
        Pipeline.from_yaml(project / "gristmill.yaml").plan()


def test_gold_values_not_in_classes(project: Path) -> None:
    path = _edit(project, lambda s: s["tasks"]["spam"].update(classes=["ham", "junk"]))
    with pytest.raises(SpecError) as info:
        Pipeline.from_yaml(path).plan()
    message = str(info.value)
    assert "tasks.spam.gold" in message
    assert "'spam'" in message and "not in classes" in message


def test_missing_payload_column(project: Path) -> None:
    path = _edit(project, lambda s: s["payloads"].update(body="text"))
    with pytest.raises(SpecError, match=r"payloads\.body: column 'body' is not in the train data"):
        Pipeline.from_yaml(path).plan()


def test_bad_where_filter(project: Path) -> None:
    path = _edit(project, lambda s: s["data"]["train"].update(where="no_col > 3"))
    with pytest.raises(SpecError, match=r"data\.train\.where"):
        Pipeline.from_yaml(path).plan()


def test_cleaning_constraints_that_do_not_parse(project: Path) -> None:
    path = _edit(project, lambda s: s.update(cleaning={"constraints": ["no_such_col -> text"]}))
    with pytest.raises(SpecError, match=r"cleaning"):
        Pipeline.from_yaml(path).run(track=False)
    path = _edit(project, lambda s: s.update(cleaning={"constraints": "missing.txt"}))
    with pytest.raises(SpecError, match=r"cleaning\.constraints: .*no such constraint file"):
        Pipeline.from_yaml(path).plan()


def test_json_schema_is_published() -> None:
    schema = spec_json_schema()
    assert schema["title"] == "gristmill pipeline spec"
    assert {"name", "data", "payloads", "tasks"} <= set(schema["required"])
    assert schema["additionalProperties"] is False
    json.dumps(schema)  # serialisable
