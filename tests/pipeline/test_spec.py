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


def test_a_spec_that_is_not_utf8_is_named_with_its_line(project: Path) -> None:
    path = project / "gristmill.yaml"
    path.write_bytes(b"# spam filter\n# caf\xe9 comments\n" + path.read_bytes())
    with pytest.raises(SpecError) as info:
        load_spec(path)
    assert str(info.value) == f"{path}:2: not UTF-8 text (byte 0xe9); save the spec as UTF-8"


def test_a_directory_given_as_the_spec_is_named_as_such(tmp_path: Path) -> None:
    message = f"{tmp_path}: is a directory; give the spec file, e.g. {tmp_path / 'gristmill.yaml'}"
    with pytest.raises(SpecError) as info:
        load_spec(tmp_path)
    assert str(info.value) == message


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


def test_misspelt_gold_column_fails_the_dry_run(project: Path) -> None:
    from typer.testing import CliRunner

    from gristmill.cli import app

    path = _edit(project, lambda s: s["tasks"]["spam"].update(gold="CLAS"))
    with pytest.raises(SpecError) as info:
        Pipeline.from_yaml(path).plan()
    message = str(info.value)
    assert f"gristmill.yaml:{_line_of(path, 'gold: CLAS')}: tasks.spam.gold:" in message
    assert "column 'CLAS' is not in the dev data" in message
    dry_run = CliRunner().invoke(app, ["run", str(path), "--dry-run"])
    assert dry_run.exit_code == 1
    assert "tasks.spam.gold: column 'CLAS'" in dry_run.output
    assert "is valid" not in dry_run.output


def test_gold_column_must_be_in_every_dev_and_test_split(two_task_project: Path) -> None:
    # train lacks both gold columns (they do not vote): valid
    Pipeline.from_yaml(two_task_project / "gristmill.yaml").plan()
    frame = pd.read_csv(two_task_project / "test.csv")
    frame.drop(columns=["RATING"]).to_csv(two_task_project / "test.csv", index=False)
    with pytest.raises(SpecError, match=r"tasks\.rating\.gold: column 'RATING' is not in the test"):
        Pipeline.from_yaml(two_task_project / "gristmill.yaml").plan()


def test_gold_column_in_train_when_no_dev_or_test_is_given(project: Path) -> None:
    # the train split of the project has no gold column: the gold would be read nowhere
    path = _edit(project, lambda s: [s["data"].pop(split) for split in ("dev", "test")])
    with pytest.raises(SpecError, match=r"tasks\.spam\.gold: column 'CLASS' is not in the train"):
        Pipeline.from_yaml(path).plan()
    frame = pd.read_csv(project / "dev.csv")
    frame.to_csv(project / "train.csv", index=False)
    Pipeline.from_yaml(path).plan()


@pytest.mark.parametrize(
    ("change", "key", "line_text"),
    [
        (lambda s: s.update(seed=-1), "seed", "seed: -1"),
        (lambda s: s.update(seed=2**32), "seed", f"seed: {2**32}"),
        (
            lambda s: s["data"]["dev"].update(sample={"seed": -1, "stop": 0.5}),
            "data.dev.sample.seed",
            "seed: -1",
        ),
    ],
)
def test_seeds_numpy_refuses_are_spec_errors(
    project: Path, change, key: str, line_text: str
) -> None:
    path = _edit(project, change)
    with pytest.raises(SpecError) as info:
        Pipeline.from_yaml(path)
    message = str(info.value)
    assert f"gristmill.yaml:{_line_of(path, line_text)}: {key}: Input should be" in message


def test_largest_seed_loads(project: Path) -> None:
    path = _edit(project, lambda s: s.update(seed=2**32 - 1))
    assert Pipeline.from_yaml(path).spec.seed == 2**32 - 1


@pytest.mark.parametrize(
    ("label_model", "key", "line_text", "message"),
    [
        (
            "snorkel",
            "tasks.spam.label_model",
            "label_model: snorkel",
            "unknown label model 'snorkel'; choose one of ['auto', 'dawid_skene',",
        ),
        (
            {"name": "snorkel", "params": {"max_iter": 5}},
            "tasks.spam.label_model.name",
            "name: snorkel",
            "unknown label model 'snorkel'",
        ),
        (
            {"name": "dawid_skene", "params": {"iters": 5}},
            "tasks.spam.label_model.params",
            "params:",
            "label model 'dawid_skene' takes params ['max_iter', 'smoothing', 'tol']; "
            "got ['iters']",
        ),
        (
            {"name": "dawid_skene", "params": {"max_iter": -1}},
            "tasks.spam.label_model.params",
            "params:",
            "The 'max_iter' parameter of DawidSkene must be an int >= 1. Got -1",
        ),
        (
            {"name": "auto", "params": {"cardinality": 3}},
            "tasks.spam.label_model.params",
            "params:",
            "'cardinality' is set from the task's classes",
        ),
    ],
)
def test_label_model_is_checked_at_load(
    project: Path, label_model: str | dict, key: str, line_text: str, message: str
) -> None:
    path = _edit(project, lambda s: s["tasks"]["spam"].update(label_model=label_model))
    with pytest.raises(SpecError) as info:
        Pipeline.from_yaml(path)
    assert f"gristmill.yaml:{_line_of(path, line_text)}: {key}: {message}" in str(info.value)
    assert str(info.value).count("\n") == 0  # one error, not one per union branch


def test_label_model_with_valid_params_loads(multilabel_project: Path) -> None:
    lm = {"name": "dawid_skene", "params": {"max_iter": 5}, "use_dev": True}
    path = _edit(multilabel_project, lambda s: s["tasks"]["tags"].update(label_model=lm))
    assert Pipeline.from_yaml(path).spec.task.label_model_spec.params == {"max_iter": 5}
    path = _edit(multilabel_project, lambda s: s["tasks"]["tags"].update(label_model="triplet"))
    assert Pipeline.from_yaml(path).spec.task.label_model_spec.name == "triplet"


@pytest.mark.parametrize(
    ("search_space", "key", "line_text", "message"),
    [
        (
            {"logreg": {"nosuch": 3}},
            "model.search_space.logreg.nosuch",
            "nosuch:",
            "logreg has no parameter 'nosuch'; it takes ['C', 'class_weight', 'max_iter']",
        ),
        (
            {"logreg": {"C": "abc"}},
            "model.search_space.logreg.C",
            "C: abc",
            "logreg's 'C' takes a number > 0, a [low, high] range or a list of such values; "
            "got 'abc'",
        ),
        (
            {"logreg": {"C": [5, 1]}},
            "model.search_space.logreg.C",
            "C:",
            "the range [5, 1] of logreg's 'C' is reversed; write [1, 5]",
        ),
        (
            {"logreg": {"C": -1}},
            "model.search_space.logreg.C",
            "C: -1",
            "logreg's 'C' takes a number > 0",
        ),
        (
            {"logreg": {"C": [0, 10]}},
            "model.search_space.logreg.C",
            "C:",
            "the range [0, 10] of logreg's 'C' must have bounds that are a number > 0; 0 is not",
        ),
        (
            {"logreg": {"class_weight": "even"}},
            "model.search_space.logreg.class_weight",
            "class_weight: even",
            "logreg's 'class_weight' takes one of [None, 'balanced'] or a list of them; got 'even'",
        ),
        (
            {"logreg": {"C": []}},
            "model.search_space.logreg.C",
            "C: []",
            "the list of choices of logreg's 'C' is empty",
        ),
        (
            {"mlp": {"hidden": 16}},
            "model.search_space.mlp",
            "mlp:",
            "learner 'mlp' is not a candidate (['logreg']), so its search space would be ignored",
        ),
    ],
)
def test_search_space_is_checked_at_load(
    project: Path, search_space: dict, key: str, line_text: str, message: str
) -> None:
    path = _edit(project, lambda s: s["model"].update(search_space=search_space))
    with pytest.raises(SpecError) as info:
        Pipeline.from_yaml(path)
    assert f"gristmill.yaml:{_line_of(path, line_text)}: {key}: {message}" in str(info.value)


def test_search_space_lists_every_problem_with_its_line(project: Path) -> None:
    space = {"logreg": {"C": [0.1, 10], "max_iter": 0}, "lightgbm": {"num_leaves": [2.5, 8]}}
    path = _edit(
        project,
        lambda s: s["model"].update(candidates=["logreg", "lightgbm"], search_space=space),
    )
    with pytest.raises(SpecError) as info:
        Pipeline.from_yaml(path)
    lines = str(info.value).splitlines()
    assert len(lines) == 2
    assert lines[0].endswith(
        f"gristmill.yaml:{_line_of(path, 'max_iter: 0')}: model.search_space.logreg.max_iter: "
        "logreg's 'max_iter' takes an integer >= 1, a [low, high] range or a list of such "
        "values; got 0"
    )
    assert f"gristmill.yaml:{_line_of(path, 'num_leaves:')}: " in lines[1]
    assert "lightgbm.num_leaves: the range [2.5, 8] of lightgbm's 'num_leaves'" in lines[1]


def test_valid_search_spaces_load(project: Path) -> None:
    space = {"logreg": {"C": [1, 100], "class_weight": [None, "balanced"], "max_iter": 50}}
    path = _edit(project, lambda s: s["model"].update(search_space=space))
    assert Pipeline.from_yaml(path).spec.model_spec.search_space == space
    # candidates: auto tries every installed learner, so any learner's space is accepted
    space = {"mlp": {"hidden": [16, 64]}, "lightgbm": {"num_leaves": [8, 16, 32]}}
    path = _edit(project, lambda s: s.update(model={"candidates": "auto", "search_space": space}))
    assert Pipeline.from_yaml(path).spec.model_spec.search_space == space


def test_gold_column_as_payload_is_refused(two_task_project: Path) -> None:
    path = _edit(two_task_project, lambda s: s["payloads"].update(RATING="categorical"))
    with pytest.raises(SpecError) as info:
        Pipeline.from_yaml(path)
    assert str(info.value) == (
        f"{path}:{_line_of(path, 'RATING: categorical')}: payloads.RATING: column 'RATING' is "
        "the gold of task 'rating'; as a payload it would leak the label into the model: "
        "remove it from payloads"
    )


DUPLICATES = """\
name: toy
seed: 0
data:
  train: {path: train.csv}
  test: {path: test.csv}
payloads: {text: text}
tasks:
  spam:
    kind: binary
    classes: [ham, spam]
    gold: CLASS
    supervision: {lfs: [lfs_a.py]}
    gold: text
model: {candidates: [logreg]}
model: auto
"""


def test_duplicate_keys_are_refused_naming_line_and_key_path(project: Path) -> None:
    path = project / "gristmill.yaml"
    path.write_text(DUPLICATES, encoding="utf-8")
    with pytest.raises(SpecError) as info:
        Pipeline.from_yaml(path)
    assert str(info.value).splitlines() == [
        f"{path}:13: tasks.spam.gold: duplicate key 'gold' (first given at line 11); "
        "YAML keeps only the last one: remove or merge the other",
        f"{path}:15: model: duplicate key 'model' (first given at line 14); "
        "YAML keeps only the last one: remove or merge the other",
    ]


def test_same_key_in_different_mappings_is_no_duplicate(project: Path) -> None:
    # 'seed' at the top and in a sample, 'path' in every split
    path = _edit(project, lambda s: s["data"]["dev"].update(sample={"seed": 3, "stop": 0.5}))
    assert load_spec(path)[0].data.dev.sample.seed == 3


@pytest.mark.parametrize(
    ("change", "errors"),
    [
        (
            lambda s: s["tasks"]["spam"].update(classes=[0, 1]),
            [
                (
                    "- 0",
                    "tasks.spam.classes[0]: Input should be a valid string; YAML read 0 as "
                    'a number: quote it as written, e.g. "0"',
                ),
                (
                    "- 1",
                    "tasks.spam.classes[1]: Input should be a valid string; YAML read 1 as "
                    'a number: quote it as written, e.g. "1"',
                ),
            ],
        ),
        (
            lambda s: s["tasks"]["spam"]["supervision"].update(
                label_columns={"CLASS": {"values": {1: "spam"}}}
            ),
            [
                (
                    "1: spam",
                    "tasks.spam.supervision.label_columns.CLASS.values[1]: Input should "
                    'be a valid string; YAML read 1 as a number: quote it as written, e.g. "1"',
                ),
            ],
        ),
        (
            lambda s: s["tasks"]["spam"].update(classes=[False, True]),
            [
                (
                    "- false",
                    "tasks.spam.classes[0]: Input should be a valid string; YAML reads unquoted "
                    "true/false/yes/no/on/off as booleans (this is False): quote the value",
                ),
                (
                    "- true",
                    "tasks.spam.classes[1]: Input should be a valid string; YAML reads unquoted "
                    "true/false/yes/no/on/off as booleans (this is True): quote the value",
                ),
            ],
        ),
    ],
)
def test_numbers_and_booleans_where_strings_belong_get_a_quoting_hint(
    project: Path, change, errors: list[tuple[str, str]]
) -> None:
    path = _edit(project, change)
    with pytest.raises(SpecError) as info:
        Pipeline.from_yaml(path)
    assert str(info.value).splitlines() == [
        f"{path}:{_line_of(path, line_text)}: {message}" for line_text, message in errors
    ]


def test_quoted_numbers_are_class_names(project: Path) -> None:
    path = _edit(project, lambda s: s["tasks"]["spam"].update(classes=["0", "1"]))
    assert Pipeline.from_yaml(path).spec.task.classes == ["0", "1"]


@pytest.mark.parametrize(
    ("change", "missing", "key", "extra"),
    [
        (
            lambda s: s["model"].update(candidates=["logreg", "lightgbm"]),
            "lightgbm",
            "model.candidates[1]",
            "search",
        ),
        (lambda s: s["model"].update(candidates=["mlp"]), "torch", "model.candidates[0]", "torch"),
        (
            lambda s: s["payloads"].update(text={"kind": "text", "embeddings": True}),
            "sentence_transformers",
            "payloads.text.embeddings",
            "text",
        ),
        (
            lambda s: s.update(cleaning={"imputation": {"method": "attention"}}),
            "torch",
            "cleaning.imputation.method",
            "torch",
        ),
        (lambda s: s.update(engine="dask"), "distributed", "engine", "dask"),
    ],
)
def test_a_part_whose_extra_is_not_installed_is_a_spec_error(
    project: Path, monkeypatch: pytest.MonkeyPatch, change, missing: str, key: str, extra: str
) -> None:
    import gristmill._extras as extras

    path = _edit(project, change)
    Pipeline.from_yaml(path)  # everything is installed here
    monkeypatch.setattr(extras, "installed", lambda module: module != missing)
    with pytest.raises(SpecError) as info:
        Pipeline.from_yaml(path)
    message = str(info.value)
    assert f": {key}: " in message
    assert f"needs the '{extra}' extra: pip install 'gristmill[{extra}]'" in message
    assert message.startswith(f"{path}:")


def test_an_empty_candidate_list_is_refused_not_read_as_auto(project: Path) -> None:
    path = _edit(project, lambda s: s["model"].update(candidates=[]))
    with pytest.raises(SpecError) as info:
        Pipeline.from_yaml(path)
    line = _line_of(path, "candidates:")
    assert f"gristmill.yaml:{line}: model.candidates: List should have at least 1 item" in str(
        info.value
    )


def test_an_lf_module_listed_twice_is_named_as_such(project: Path) -> None:
    path = _edit(project, lambda s: s["tasks"]["spam"]["supervision"].update(lfs=["lfs_a.py"] * 2))
    with pytest.raises(SpecError) as info:
        Pipeline.from_yaml(path).plan()
    assert str(info.value).endswith(
        f"tasks.spam.supervision.lfs[1]: the LF module {project.resolve() / 'lfs_a.py'} is "
        "listed twice; remove one"
    )


@pytest.mark.parametrize("drop", ["dev split", "gold column"])
def test_use_dev_without_gold_dev_labels_is_refused(project: Path, drop: str) -> None:
    def change(spec: dict) -> None:
        spec["tasks"]["spam"]["label_model"] = {"name": "majority_vote", "use_dev": True}
        if drop == "dev split":
            del spec["data"]["dev"]
        else:
            del spec["tasks"]["spam"]["gold"]

    path = _edit(project, change)
    with pytest.raises(SpecError) as info:
        Pipeline.from_yaml(path)
    assert f"gristmill.yaml:{_line_of(path, 'use_dev: true')}: " in str(info.value)
    assert str(info.value).endswith(
        "tasks.spam.label_model.use_dev: use_dev: true needs a dev split (data.dev) and the "
        "task's 'gold' column"
    )
