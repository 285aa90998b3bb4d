"""Weighted fits on vote patterns, and label models fit and applied on partitioned matrices."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from gristmill import (
    DataError,
    GristmillError,
    LabelMatrix,
    NotFittedError,
    apply_lfs_partitioned,
    fit_partitioned,
    get_label_model,
    labeling_function,
    predict_proba_partitioned,
)
from gristmill.labelmodel import LABEL_MODELS, vote_patterns

from .conftest import make_votes

distributed = pytest.importorskip("dask.distributed")

ACCURACIES = np.array([0.9, 0.8, 0.75, 0.7, 0.65, 0.85])


def expand(patterns: np.ndarray, counts: np.ndarray) -> np.ndarray:
    return np.repeat(patterns, counts, axis=0)


@pytest.mark.parametrize("k", [2, 3])
@pytest.mark.parametrize("name", sorted(LABEL_MODELS))
def test_weighted_patterns_fit_equals_expanded_fit(name: str, k: int) -> None:
    votes, _, _ = make_votes(3_000, ACCURACIES, k=k, coverage=0.5, seed=k)
    patterns, counts = vote_patterns(votes)
    assert patterns.shape[0] < votes.shape[0] / 2
    assert counts.sum() == votes.shape[0]
    expanded = expand(patterns, counts)
    full = get_label_model(name, cardinality=k).fit(expanded)
    weighted = get_label_model(name, cardinality=k).fit(patterns, sample_weight=counts)
    np.testing.assert_allclose(weighted.weights_, full.weights_, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(weighted.bias_, full.bias_, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(weighted.class_balance_, full.class_balance_, atol=1e-6)
    np.testing.assert_allclose(weighted.lf_accuracies_, full.lf_accuracies_, atol=1e-6)
    np.testing.assert_allclose(weighted.f1_threshold_, full.f1_threshold_, atol=1e-6)
    np.testing.assert_allclose(weighted.predict_proba(votes), full.predict_proba(votes), atol=1e-6)


def test_unit_weights_change_nothing_and_zero_weights_drop_rows() -> None:
    votes, _, _ = make_votes(1_500, ACCURACIES, seed=7)
    plain = get_label_model("dawid_skene").fit(votes)
    ones = get_label_model("dawid_skene").fit(votes, sample_weight=np.ones(len(votes)))
    np.testing.assert_allclose(ones.weights_, plain.weights_)
    extra, _, _ = make_votes(500, ACCURACIES[::-1], seed=8)
    padded = np.vstack([votes, extra])
    weights = np.r_[np.ones(len(votes)), np.zeros(len(extra))]
    dropped = get_label_model("dawid_skene").fit(padded, sample_weight=weights)
    np.testing.assert_allclose(dropped.weights_, plain.weights_, atol=1e-8)


def test_sample_weight_is_checked() -> None:
    votes, _, _ = make_votes(50, ACCURACIES, seed=1)
    with pytest.raises(DataError, match="one weight per row"):
        get_label_model("auto").fit(votes, sample_weight=np.ones(3))
    bad = np.ones(50)
    bad[7] = -1.0
    with pytest.raises(DataError, match="at row 7"):
        get_label_model("auto").fit(votes, sample_weight=bad)
    for name in ("auto", "majority_vote"):
        with pytest.raises(DataError, match="sample_weight is 0 on every row"):
            get_label_model(name).fit(votes, sample_weight=np.zeros(50))


def test_vote_patterns_counts_rows_including_wide_matrices() -> None:
    rng = np.random.default_rng(0)
    narrow = rng.integers(-1, 2, (500, 4))
    patterns, counts = vote_patterns(narrow)
    assert len({tuple(r) for r in narrow}) == patterns.shape[0]
    for pattern, count in zip(patterns, counts, strict=True):
        assert count == int((narrow == pattern).all(axis=1).sum())
    wide = rng.integers(-1, 5, (300, 40))
    wide[150:] = wide[:150]
    patterns, counts = vote_patterns(wide)
    assert patterns.shape == (150, 40)
    assert set(counts.tolist()) == {2}
    np.testing.assert_array_equal(np.sort(expand(patterns, counts), axis=0), np.sort(wide, axis=0))
    empty, none = vote_patterns(np.zeros((0, 3), dtype=np.int8))
    assert empty.shape == (0, 3) and none.size == 0


def make_frame(n: int, seed: int) -> pd.DataFrame:
    votes, _, _ = make_votes(n, ACCURACIES, k=2, coverage=0.5, seed=seed)
    frame = pd.DataFrame(votes, columns=[f"src{j}" for j in range(votes.shape[1])])
    frame.index = pd.RangeIndex(1_000, 1_000 + n)
    return frame


def column_lfs(m: int) -> list:
    def make(j: int):
        @labeling_function(name=f"copy_src{j}", vectorized=True)
        def copy(frame):
            return frame[f"src{j}"].to_numpy()

        return copy

    return [make(j) for j in range(m)]


@pytest.fixture(scope="module")
def client():
    with (
        distributed.LocalCluster(
            n_workers=2, threads_per_worker=1, processes=False, dashboard_address="127.0.0.1:0"
        ) as cluster,
        distributed.Client(cluster) as active,
    ):
        yield active


@pytest.mark.parametrize("name", ["auto", "dawid_skene", "majority_vote", "triplet"])
def test_partitioned_fit_and_probabilities_match_in_memory(
    tmp_path: Path, client, name: str
) -> None:
    import dask.dataframe as dd

    frame = make_frame(4_000, seed=3)
    matrix = apply_lfs_partitioned(
        column_lfs(len(ACCURACIES)),
        dd.from_pandas(frame, npartitions=9),
        tmp_path / "L",
        client=client,
    )
    in_memory = LabelMatrix(frame.to_numpy(), [f"copy_src{j}" for j in range(6)])
    reference = get_label_model(name).fit(in_memory)
    model = fit_partitioned(get_label_model(name), tmp_path / "L", client=client)
    assert model.lf_names_ == list(in_memory.lf_names)
    np.testing.assert_allclose(model.weights_, reference.weights_, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(model.lf_accuracies_, reference.lf_accuracies_, atol=1e-6)
    out = predict_proba_partitioned(model, matrix, tmp_path / "P", client=client)
    proba = pd.read_parquet(out)
    assert list(proba.columns) == ["proba_0", "proba_1"]
    assert list(proba.index) == list(frame.index)
    np.testing.assert_allclose(proba.to_numpy(), reference.predict_proba(in_memory), atol=1e-9)
    assert len(list(out.glob("part.*.parquet"))) == 9
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")] == []


def test_partitioned_errors(tmp_path: Path, client) -> None:
    frame = make_frame(300, seed=4)
    matrix = apply_lfs_partitioned(column_lfs(6), frame, tmp_path / "L", client=client)
    with pytest.raises(NotFittedError):
        predict_proba_partitioned(get_label_model("auto"), matrix, tmp_path / "P", client=client)
    with pytest.raises(GristmillError, match="sample_weight"):
        fit_partitioned(get_label_model("auto"), matrix, client=client, sample_weight=[1])
    model = fit_partitioned(get_label_model("auto"), matrix, client=client, seed=1)
    predict_proba_partitioned(model, matrix, tmp_path / "P", client=client)
    with pytest.raises(GristmillError, match="already exists"):
        predict_proba_partitioned(model, matrix, tmp_path / "P", client=client)
    with pytest.raises(DataError, match="not a partitioned label matrix"):
        fit_partitioned(get_label_model("auto"), tmp_path / "P", client=client)
