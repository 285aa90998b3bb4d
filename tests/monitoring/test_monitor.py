"""monitor(): a served model, its LFs and current data in; a drift verdict, JSON and HTML out."""

from __future__ import annotations

import json
import time
from types import SimpleNamespace

import mlflow
import numpy as np
import pandas as pd
import pytest

from gristmill.exceptions import DataError
from gristmill.labeling import keyword_lf
from gristmill.monitoring import DriftThresholds, monitor
from gristmill.serving import load_served_model

LFS = [keyword_lf(["subscribe", "check out"], 1, name="kw_promo"),
       keyword_lf(["love it", "great song"], 0, name="kw_fan")]


def _spammy(n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    words = np.array(["subscribe", "check out my channel", "free money", "click here", "win"])
    text = [" ".join(rng.choice(words, size=rng.integers(2, 5))) for _ in range(n)]
    return pd.DataFrame({"text": text, "length": [float(len(t)) * 3 for t in text]})


@pytest.fixture(scope="module")
def model(tracking_uri):  # noqa: ANN001, ANN201
    return load_served_model("kw/1", tracking_uri=tracking_uri)


def test_iid_data_is_not_flagged(model, registry) -> None:  # noqa: ANN001
    result = monitor(model, current=registry.reference_frame(300, seed=1),
                     reference=registry.reference_frame(400, seed=2), lfs=LFS)
    assert not result.drifted, result.reasons
    assert [f.column for f in result.features] == ["text", "length"]
    assert result.prediction is not None and not result.prediction.drifted
    assert [d.name for d in result.lfs] == ["kw_promo", "kw_fan"]
    assert not any(d.drifted for d in result.lfs)
    assert result.agreement is not None and not result.agreement.drifted
    assert 0.5 < result.agreement.estimated_accuracy <= 1.0


def test_shifted_data_is_flagged_on_every_signal(model, registry) -> None:  # noqa: ANN001
    result = monitor(model, current=_spammy(300, seed=3),
                     reference=registry.reference_frame(400, seed=2), lfs=LFS)
    assert result.drifted
    assert {f.column for f in result.features if f.drifted} == {"text", "length"}
    assert result.prediction.drifted
    assert result.class_shares["current"]["spam"] > result.class_shares["reference"]["spam"]
    promo = result.lfs[0]
    assert promo.drifted and promo.coverage_current > promo.coverage_reference + 0.2
    assert any("features drifted" in r for r in result.reasons)


def test_log_records_give_windows_and_slice_metrics(model, registry) -> None:  # noqa: ANN001
    current = registry.reference_frame(200, seed=4)
    served = model.predict_frame(current)
    current["_prediction"] = served["prediction"].astype(str)
    current["_ts"] = time.time() + np.arange(len(current))
    current["_label"] = [p if i % 4 else None for i, p in enumerate(current["_prediction"])]
    current.loc[1, "_label"] = "ham" if current.loc[1, "_prediction"] == "spam" else "spam"
    result = monitor(model, current=current, reference=registry.reference_frame(400, seed=2),
                     lfs=LFS, slices={"long": lambda row: row.length > 20}, n_windows=4)
    assert len(result.windows) == 4 and sum(w["n"] for w in result.windows) == 200
    assert set(result.windows[0]["features"]) == {"text", "length"}
    assert set(result.windows[0]["lf_coverage"]) == {"kw_promo", "kw_fan"}
    labeled = int(current["_label"].notna().sum())
    assert result.slices["all"]["n"] == labeled
    assert result.slices["all"]["accuracy"] == pytest.approx((labeled - 1) / labeled)
    assert "long" in result.slices and any(k.startswith("predicted=") for k in result.slices)


def test_json_html_and_mlflow_outputs(model, registry, tracking_uri, tmp_path) -> None:  # noqa: ANN001
    result = monitor(model, current=_spammy(120, seed=5),
                     reference=registry.reference_frame(300, seed=2), lfs=LFS)
    data = json.loads(result.to_json())
    assert data["drifted"] is True and data["model"] == {"name": "kw", "version": "1"}
    assert data["features"][0]["column"] == "text" and "score" in data["features"][0]
    paths = result.save(tmp_path / "out")
    assert json.loads(paths["json"].read_text())["reasons"] == result.reasons
    html = paths["html"].read_text()
    assert "<svg" in html and "LF coverage" in html and "<script" not in html

    client = mlflow.MlflowClient(tracking_uri=tracking_uri)
    experiment_id = client.create_experiment(
        "kw-monitor-test", artifact_location=(tmp_path / "artifacts").as_uri())
    run_id = result.log_to_mlflow(tracking_uri=tracking_uri, experiment="kw-monitor-test")
    run = client.get_run(run_id)
    assert run.info.experiment_id == experiment_id
    assert run.data.metrics["drifted"] == 1.0
    assert run.data.metrics["lf.kw_promo.coverage"] == pytest.approx(result.lfs[0].coverage_current)
    assert run.data.tags["gristmill.model_version"] == "1"


def test_a_report_that_fails_to_render_writes_no_result(registry, tmp_path, monkeypatch) -> None:  # noqa: ANN001
    from gristmill.report import _monitor_report

    result = monitor(current=registry.reference_frame(100, seed=6),
                     reference=registry.reference_frame(300, seed=2))

    def fails(_: object) -> str:
        raise RuntimeError("cannot render")

    monkeypatch.setattr(_monitor_report, "render_monitor_report", fails)
    with pytest.raises(RuntimeError, match="cannot render"):
        result.save(tmp_path / "out")
    assert not (tmp_path / "out" / "monitor.json").exists()


def test_without_a_model_or_lfs(registry) -> None:  # noqa: ANN001
    result = monitor(current=registry.reference_frame(100, seed=6),
                     reference=registry.reference_frame(300, seed=2))
    assert result.prediction is None and result.lfs == [] and result.agreement is None
    assert any("no labeling functions" in note for note in result.notes)


def test_errors(model, registry) -> None:  # noqa: ANN001
    with pytest.raises(DataError, match="needs reference data"):
        monitor(model, current=registry.reference_frame(50))
    with pytest.raises(DataError, match="'length' is missing from the current data"):
        monitor(model, current=registry.reference_frame(50)[["text"]],
                reference=registry.reference_frame(50))
    with pytest.raises(DataError, match="non-empty"):
        monitor(model, current=registry.reference_frame(50).iloc[:0],
                reference=registry.reference_frame(50))


def test_samples_that_are_no_table_or_name_a_column_twice_are_refused(model, registry) -> None:  # noqa: ANN001
    from gristmill.exceptions import ParameterError

    reference = registry.reference_frame(100)
    with pytest.raises(ParameterError, match="current must be a pandas DataFrame; got list"):
        monitor(model, current=reference.to_dict("records"), reference=reference)
    twice = pd.concat([reference, reference[["text"]]], axis=1)
    with pytest.raises(DataError, match="column 'text' appears more than once in the current"):
        monitor(model, current=twice, reference=reference)
    with pytest.raises(ParameterError, match=r"got the string 'text' \(pass \['text'\]\)"):
        monitor(model, current=reference, reference=reference, columns="text")


def test_thresholds_change_the_verdict(model, registry) -> None:  # noqa: ANN001
    current, reference = _spammy(200, seed=8), registry.reference_frame(300, seed=2)
    lax = DriftThresholds(p_value=1e-300, domain_auc=0.999999, dataset_share=1.0, lf_change=1.0)
    assert monitor(model, current=current, reference=reference).drifted
    assert not monitor(model, current=current, reference=reference, thresholds=lax).drifted


def test_lfs_that_need_missing_columns_are_left_out(model, registry) -> None:  # noqa: ANN001
    from gristmill.labeling import labeling_function

    @labeling_function()
    def by_video(row) -> int:  # noqa: ANN001
        return 1 if row.VIDEO == "Psy" else -1

    result = monitor(model, current=registry.reference_frame(100, seed=9),
                     reference=registry.reference_frame(300, seed=2), lfs=[*LFS, by_video])
    assert [d.name for d in result.lfs] == ["kw_promo", "kw_fan"]
    assert any("'by_video' cannot run" in note and "VIDEO" in note for note in result.notes)


class _FirstSource:
    """A label model that predicts the vote of the first source it was fit on."""

    def __init__(self, lf_names: list[str]) -> None:
        self.lf_names_ = lf_names

    def predict(self, L) -> np.ndarray:  # noqa: ANN001
        return np.asarray(L)[:, 0]


def test_the_label_model_gets_its_sources_by_name(model, registry) -> None:  # noqa: ANN001
    current, reference = registry.reference_frame(200, seed=10), registry.reference_frame(300)
    # Fit with kw_fan first, while the LFs are listed kw_promo first: kw_fan's votes must reach
    # the label model's first source, so kw_fan agrees with its target wherever it votes.
    result = monitor(model, current=current, reference=reference, lfs=LFS,
                     label_model=_FirstSource(["kw_fan", "kw_promo"]))
    by_name = {d.name: d for d in result.lfs}
    assert by_name["kw_fan"].agreement_reference == 1.0
    assert by_name["kw_promo"].agreement_reference < 1.0
    unknown = monitor(model, current=current, reference=reference, lfs=LFS,
                      label_model=_FirstSource(["kw_fan", "label_column"]))
    assert any("sources these LFs do not provide (label_column)" in n for n in unknown.notes)
    majority = monitor(model, current=current, reference=reference, lfs=LFS)
    assert [d.agreement_reference for d in unknown.lfs] == [
        d.agreement_reference for d in majority.lfs
    ]


def test_the_specs_payload_kinds_choose_each_test() -> None:
    hours = pd.date_range("2024-01-01", periods=400, freq="h")
    reference = pd.DataFrame(
        {"author": [f"user{i % 300}" for i in range(400)], "when": hours.astype(str)}
    )
    current = pd.DataFrame(
        {"author": [f"user{i % 300}" for i in range(5, 405)], "when": hours.astype(str)}
    )
    bundle = SimpleNamespace(
        spec={"payloads": {"author": "categorical", "when": {"kind": "datetime"}}},
        reference=reference,
        payload_columns=["author", "when"],
        lfs=None,
        label_model=None,
    )
    result = monitor(bundle, current=current)
    by_column = {f.column: f for f in result.features}
    assert by_column["author"].kind == "categorical"
    assert by_column["author"].method == "chi2"
    assert by_column["when"].kind == "datetime" and by_column["when"].method == "ks"
    assert not by_column["when"].drifted
    later = current.assign(when=(hours + pd.Timedelta(days=30)).astype(str))
    assert {f.column: f for f in monitor(bundle, current=later).features}["when"].drifted
    undeclared = SimpleNamespace(**{**vars(bundle), "spec": {}})
    assert {f.column: f.kind for f in monitor(undeclared, current=current).features} == {
        "author": "text", "when": "text"}


def _log_frame(tmp_path, model, registry) -> pd.DataFrame:  # noqa: ANN001
    """Request-log records: 60 rows served by kw/1, 60 by kw/2 (always 'ham'), 40 by another
    model with another payload."""
    from gristmill.serving import RequestLog

    log = RequestLog(tmp_path / "log.sqlite")
    rows = registry.reference_frame(120, seed=11)
    mine = model.predict_frame(rows)["prediction"].tolist()
    for i, record in enumerate(rows.to_dict("records")):
        version, prediction = ("1", mine[i]) if i < 60 else ("2", "ham")
        log.log_prediction(f"r{i}", "kw", version, [record], [prediction],
                           [{"ham": 0.5, "spam": 0.5}], 1.0)
    for i in range(40):
        log.log_prediction(f"o{i}", "sentiment", "7", [{"review": "fine"}], ["positive"],
                           [{"positive": 1.0}], 1.0)
    frame = log.records()
    log.close()
    return frame


def test_log_rows_of_other_models_and_versions_are_not_the_models(  # noqa: ANN001
        model, registry, tmp_path) -> None:
    frame = _log_frame(tmp_path, model, registry)
    result = monitor(model, current=frame, reference=registry.reference_frame(300, seed=2),
                     lfs=LFS)
    assert result.n_current == 120  # the other model's rows are left out
    # Rows kw/2 served are predicted again by kw/1: the logged 'ham' is not kw/1's answer.
    expected = model.predict_frame(frame[frame["_model_name"] == "kw"][["text", "length"]])
    assert result.class_shares["current"] == pytest.approx(
        expected["prediction"].value_counts(normalize=True).to_dict())
    assert "40 of 160 logged rows were served by other models (sentiment) and are left out" in (
        result.notes)
    assert ("60 of 120 current rows were served by other versions of kw (2): version 1 predicts "
            "them again") in result.notes
    with pytest.raises(DataError, match="none of the 40 logged rows was served by model kw"):
        monitor(model, current=frame[frame["_model_name"] == "sentiment"],
                reference=registry.reference_frame(300, seed=2))


def test_a_bundle_predicts_as_the_service_does(model, registry) -> None:  # noqa: ANN001
    def bundle(pyfunc) -> SimpleNamespace:  # noqa: ANN001
        # A ModelBundle's shape: its predict is the bare pyfunc's.
        return SimpleNamespace(
            name="kw", version="1", alias=None, run_id=None, pyfunc=pyfunc, classes=model.classes,
            payload_columns=model.payload_columns, reference=registry.reference_frame(300, seed=2),
            lfs=None, label_model=None, task=None, spec={}, predict=pyfunc.predict)

    current = registry.reference_frame(100, seed=12).assign(text=range(100))  # numbers
    result = monitor(bundle(model.pyfunc), current=current)
    assert result.prediction is not None and result.prediction.tested
    assert result.model == {"name": "kw", "version": "1"}

    def fails(frame: pd.DataFrame) -> pd.DataFrame:
        raise ValueError("cannot read these rows\n" + frame.to_string())

    broken = monitor(bundle(SimpleNamespace(metadata=model.pyfunc.metadata, predict=fails)),
                     current=current)
    assert broken.prediction is None
    note = next(n for n in broken.notes if "cannot predict" in n)
    assert note.endswith("model kw/1 cannot predict these rows: cannot read these rows")


def test_a_column_missing_throughout_is_drift_not_an_error(model, registry) -> None:  # noqa: ANN001
    current = registry.reference_frame(100, seed=13).assign(length=np.nan)
    result = monitor(model, current=current, reference=registry.reference_frame(300, seed=2))
    length = {f.column: f for f in result.features}["length"]
    assert length.method == "missing" and length.drifted and length.missing_current == 1.0
    assert "feature 'length': every current value is missing" in result.notes


def test_too_few_current_rows_are_not_tested(model, registry) -> None:  # noqa: ANN001
    result = monitor(model, current=_spammy(5, seed=14),
                     reference=registry.reference_frame(300, seed=2), lfs=LFS)
    assert not result.drifted, result.reasons
    assert not any(f.tested for f in result.features) and not result.prediction.tested
    assert not any(d.drifted for d in result.lfs) and not result.agreement.drifted
    assert ("feature 'text': too few rows to test: 5 current values (at least 30 needed)"
            in result.notes)


def test_the_prediction_drift_reason_shows_a_p_value_just_under_its_threshold() -> None:
    from gristmill.monitoring._drift import DriftThresholds, FeatureDrift
    from gristmill.monitoring._monitor import MonitorResult

    prediction = FeatureDrift("prediction", "categorical", "chi2", 0.04995, 0.05, True, 500, 500)
    result = MonitorResult(None, "2026-11-25T00:00:00Z", 500, 500, DriftThresholds(), [],
                           prediction=prediction)
    assert result.reasons == ["the predicted class distribution drifted (chi2 0.04995 vs 0.05)"]


def test_times_of_a_file_may_be_date_times_and_a_bad_one_is_named(model, registry) -> None:  # noqa: ANN001
    current = registry.reference_frame(120, seed=15)
    seconds = 1_700_000_000 + 60 * np.arange(len(current))
    reference = registry.reference_frame(300, seed=2)
    as_text = pd.to_datetime(seconds, unit="s").strftime("%Y-%m-%dT%H:%M:%S")
    by_seconds = monitor(model, current=current.assign(_ts=seconds), reference=reference)
    for times in (as_text, pd.to_datetime(seconds, unit="s")):
        result = monitor(model, current=current.assign(_ts=times), reference=reference)
        assert [w["label"] for w in result.windows] == [w["label"] for w in by_seconds.windows]
    with pytest.raises(DataError, match="column '_ts' .* row 3 holds 'yesterday'"):
        monitor(model, current=current.assign(_ts=as_text.where(np.arange(120) != 3,
                                                                "yesterday")),
                reference=reference)
    with pytest.raises(DataError, match="column '_ts' .* row 0 holds 1700000000000"):
        monitor(model, current=current.assign(_ts=seconds * 1000), reference=reference)  # ms


def test_feedback_labels_that_name_no_class_are_left_out(model, registry) -> None:  # noqa: ANN001
    current = registry.reference_frame(100, seed=16)
    current["_label"] = model.predict_frame(current)["prediction"].astype(str)
    codes = current["_label"].map({"ham": 0, "spam": 1})
    right = monitor(model, current=current, reference=registry.reference_frame(300, seed=2))
    assert right.slices["all"] == {"n": 100, "accuracy": 1.0}
    mixed = current.assign(_label=codes.astype(object).where(np.arange(100) >= 10,
                                                             current["_label"]))
    result = monitor(model, current=mixed, reference=registry.reference_frame(300, seed=2))
    assert result.slices["all"] == {"n": 10, "accuracy": 1.0}
    assert any("90 feedback labels (_label) are none of the classes (ham, spam)" in note
               for note in result.notes)


def test_lfs_run_together_so_a_shared_preprocessor_runs_once_per_row() -> None:
    from gristmill.labeling import labeling_function, preprocessor
    from gristmill.monitoring._monitor import _apply_each, _apply_one_by_one

    calls = []

    @preprocessor()
    def words(row) -> dict:  # noqa: ANN001
        calls.append(1)
        return {"words": str(row.text).split()}

    @labeling_function(pre=[words])
    def long_text(row) -> int:  # noqa: ANN001
        return 1 if len(row.words) > 3 else -1

    @labeling_function(pre=[words])
    def short_text(row) -> int:  # noqa: ANN001
        return 0 if len(row.words) <= 3 else -1

    @labeling_function()
    def by_video(row) -> int:  # noqa: ANN001
        return 1 if row.VIDEO == "Psy" else -1

    @labeling_function()
    def by_author(row) -> int:  # noqa: ANN001
        return 1 if row.AUTHOR == "x" else -1

    lfs = [by_video, *LFS, long_text, by_author, short_text]
    reference, current = _spammy(40, seed=1), _spammy(60, seed=2)
    notes: list[str] = []
    L_ref, L_cur, skipped = _apply_each(lfs, reference, current, notes)
    # Once per row of each sample for both LFs using it, plus once for the first row, where
    # by_author stopped the pass that found it (one LF at a time: twice per row).
    assert len(calls) == 40 + 60 + 1
    one_notes: list[str] = []
    one_ref, one_cur, one_skipped = _apply_one_by_one(lfs, (reference, current), one_notes)
    assert skipped == one_skipped == {"by_video", "by_author"}
    assert notes == one_notes and "'by_video' cannot run" in notes[0] and "AUTHOR" in notes[1]
    np.testing.assert_array_equal(L_ref, one_ref)
    np.testing.assert_array_equal(L_cur, one_cur)
    assert (L_ref[:, 0] == -1).all() and (L_cur[:, 4] == -1).all()
