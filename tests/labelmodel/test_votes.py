"""The one-hot vote indicator: dense conversion in chunks, and products on parallel row blocks."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

import gristmill.labelmodel._votes as votes_module
from gristmill.exceptions import DataError
from gristmill.labelmodel import DawidSkene, LabelModel, MatrixCompletion
from gristmill.labelmodel._votes import to_votes

from .conftest import make_votes


def _reference_indicator(values: np.ndarray, k: int) -> np.ndarray:
    n, m = values.shape
    dense = np.zeros((n, m * k))
    rows, columns = np.nonzero(values >= 0)
    dense[rows, columns * k + values[rows, columns]] = 1.0
    return dense


@pytest.mark.parametrize(
    ("m", "k", "dtype"),
    [(5, 3, np.int8), (70, 2, np.int64), (300, 2, np.int16), (4, 2, np.float64), (3, 2, bool)],
    ids=["int8", "int16 codes", "more than 255 sources", "float", "bool"],
)
def test_dense_conversion_in_chunks_matches_the_definition(monkeypatch, m, k, dtype) -> None:
    rng = np.random.default_rng(m)
    low = 0 if dtype is bool else -1
    values = rng.integers(low, k, (997, m)).astype(dtype)
    monkeypatch.setattr(votes_module, "_DENSE_CHUNK_CELLS", 5 * m)  # 200 chunks, two threads
    chunked = to_votes(values, k)
    monkeypatch.setattr(votes_module, "_DENSE_CHUNK_CELLS", 1 << 30)  # one chunk
    whole = to_votes(values, k)
    expected = _reference_indicator(values.astype(np.int64), k)
    for found in (chunked, whole):
        assert found.indicator.has_canonical_format
        np.testing.assert_array_equal(found.indicator.toarray(), expected)


@pytest.mark.parametrize(
    ("bad", "message"),
    [(-4, "column 3 holds -4; votes must be >= -1"), (2, "column 3 votes class 2.*cardinality 2")],
)
def test_an_out_of_range_vote_in_a_late_chunk_names_its_column(monkeypatch, bad, message) -> None:
    values = np.random.default_rng(0).integers(-1, 2, (500, 6)).astype(np.int8)
    values[480, 3] = bad
    monkeypatch.setattr(votes_module, "_DENSE_CHUNK_CELLS", 60)  # 50 chunks of 10 rows
    with pytest.raises(DataError, match=message):
        to_votes(values, 2)


def test_a_huge_float_vote_is_refused_before_any_cast() -> None:
    with pytest.raises(DataError, match="column 1 votes class 1000000000000"):
        to_votes(np.array([[0.0, 1e12], [1.0, -1.0]]), 2)


@pytest.fixture
def parallel(monkeypatch):
    """Split every indicator into row blocks multiplied on the product threads."""
    monkeypatch.setattr(votes_module, "_PARALLEL_MIN_VOTES", 0)


def test_products_on_row_blocks_equal_the_whole_matrix(parallel, monkeypatch) -> None:
    monkeypatch.setattr(votes_module, "_CHUNK_ROWS", 97)  # co-votes in chunks, a short last one
    values, _, _ = make_votes(5_001, np.linspace(0.6, 0.9, 7), k=3, coverage=0.4, seed=4)
    weights = np.random.default_rng(1).random(values.shape[0])
    for row_weights in (None, weights):
        blocked = to_votes(values, 3).with_weights(row_weights)
        blocks = blocked._row_blocks()
        assert len(blocks) == votes_module._PRODUCT_THREADS
        for block in blocks:  # views, never copies (scipy's constructor would copy the smaller)
            for part in (block.rows, block.transposed):
                assert np.shares_memory(part.data, blocked.indicator.data)
                assert np.shares_memory(part.indices, blocked.indicator.indices)
        matrix = sp.csr_matrix(blocked.indicator)
        scaled = matrix if row_weights is None else sp.diags(row_weights) @ matrix
        right = np.random.default_rng(2).random((21, 3))
        per_row = np.random.default_rng(3).random((values.shape[0], 2))
        np.testing.assert_allclose(blocked.dot(right), matrix @ right, rtol=1e-12)
        np.testing.assert_allclose(blocked.transpose_dot(per_row), matrix.T @ per_row, rtol=1e-12)
        np.testing.assert_allclose(blocked.co_votes(), (matrix.T @ scaled).toarray(), rtol=1e-12)
        columns = np.array([20, 3, 4, 11])
        expected = (matrix.T @ scaled).toarray()[np.ix_(columns, columns)]
        np.testing.assert_allclose(blocked.co_votes(columns), expected, rtol=1e-12)
        monkeypatch.setattr(votes_module, "_DENSE_GRAM_MAX_COLUMNS", 2)  # the sparse product
        np.testing.assert_allclose(blocked.co_votes(columns), expected, rtol=1e-12)
        monkeypatch.setattr(votes_module, "_DENSE_GRAM_MAX_COLUMNS", 2048)


@pytest.mark.parametrize("model", [DawidSkene, MatrixCompletion, LabelModel], ids=repr)
def test_fits_on_row_blocks_equal_single_threaded_fits(monkeypatch, model) -> None:
    values, _, _ = make_votes(20_000, np.linspace(0.55, 0.9, 9), coverage=0.5, seed=6)
    single = model().fit(values)
    monkeypatch.setattr(votes_module, "_PARALLEL_MIN_VOTES", 0)
    first, second = model().fit(values), model().fit(values)
    np.testing.assert_array_equal(first.predict_proba(values), second.predict_proba(values))
    np.testing.assert_allclose(first.confusion_, single.confusion_, atol=1e-9)
    np.testing.assert_allclose(first.predict_proba(values), single.predict_proba(values), atol=1e-9)


# Python 3.12+ warns that forking a process with threads may deadlock: that is what is tested.
@pytest.mark.filterwarnings("ignore:This process .* is multi-threaded:DeprecationWarning")
def test_a_forked_child_multiplies_on_its_own_threads(parallel) -> None:
    import multiprocessing

    values, _, _ = make_votes(2_000, np.linspace(0.6, 0.9, 5), coverage=0.5, seed=8)
    expected = to_votes(values, 2).co_votes()  # starts the parent's pool
    context = multiprocessing.get_context("fork")
    with context.Pool(1) as pool:
        found = pool.apply_async(_co_votes_in_child, (values,)).get(timeout=60)
    np.testing.assert_array_equal(found, expected)


def _co_votes_in_child(values: np.ndarray) -> np.ndarray:
    votes_module._PARALLEL_MIN_VOTES = 0
    return to_votes(values, 2).co_votes()


def test_source_firing_marks_the_sources_that_vote_on_each_row() -> None:
    votes = to_votes(np.array([[0, -1, 2], [-1, -1, -1], [1, 1, -1]]), 3)
    np.testing.assert_array_equal(
        votes.source_firing().toarray(), [[1, 0, 1], [0, 0, 0], [1, 1, 0]]
    )


def test_more_source_class_pairs_than_int32_indexes_is_a_data_error() -> None:
    with pytest.raises(DataError, match="250000 labeling functions and 10000 classes"):
        to_votes(np.zeros((1, 250_000), dtype=np.int8), 10_000)


def test_a_huge_unsigned_vote_is_a_data_error_not_a_cast_warning() -> None:
    values = np.array([[0, 1, 2**63]] * 5, dtype=np.uint64)
    with pytest.raises(DataError, match="column 2 votes class 9223372036854775808.*cardinality 2"):
        to_votes(values, 2)


@pytest.mark.parametrize("cardinality", [None, 2])
@pytest.mark.parametrize("bad", [np.nan, np.inf, 1.5])
def test_a_sparse_vote_that_is_no_integer_names_its_column_and_row(bad, cardinality) -> None:
    values = np.array([[1.0, 2.0, 0.0], [0.0, 1.0, bad]])
    with pytest.raises(DataError, match=f"column 2 holds {bad!r} at row 1; a sparse label matrix"):
        LabelModel(cardinality=cardinality).fit(sp.csr_matrix(values))


@pytest.mark.parametrize(
    "values",
    [np.array([[0, 1, None], [1, 1, 0]], dtype=object), np.array([["0", "1"], ["1", "1"]])],
    ids=["objects", "strings"],
)
def test_votes_that_are_not_numbers_are_a_data_error(values) -> None:
    with pytest.raises(DataError, match="must be integers .* got dtype"):
        LabelModel().fit(values)


@pytest.mark.parametrize("per_vote", [1, 3, 100])
def test_row_chunks_cover_the_rows_in_order_within_the_cell_budget(monkeypatch, per_vote) -> None:
    monkeypatch.setattr(votes_module, "VOTE_CELLS", 300)
    per_row = np.random.default_rng(per_vote).integers(0, 12, 500)
    indptr = np.concatenate([[7], 7 + np.cumsum(per_row)])  # a block's indptr need not start at 0
    chunks = votes_module.row_chunks(indptr, per_vote)
    assert chunks[0][0] == 0 and chunks[-1][1] == per_row.size
    assert all(stop == start for (_, stop), (start, _) in zip(chunks, chunks[1:], strict=False))
    for start, stop in chunks:
        cells = per_row[start:stop].sum() * per_vote
        assert stop - start >= 1 and (cells <= 300 or stop - start == 1)
        if stop < per_row.size:  # as large as the budget allows
            assert (per_row[start : stop + 1].sum()) * per_vote > 300


def test_co_votes_of_many_classes_take_the_sparse_product(parallel, monkeypatch) -> None:
    # 14 votes a row over 1,000 (source, class) columns: dense blocks are 98% zeros, and the
    # sparse product was 3x faster (300,000 rows by 50 sources over 20 classes).
    monkeypatch.setattr(votes_module, "_DENSE_GRAM_MIN_WORK", 0.0)
    many, _, _ = make_votes(3_000, np.full(50, 0.7), k=20, coverage=0.3, seed=6)
    few, _, _ = make_votes(3_000, np.full(5, 0.7), k=2, coverage=0.9, seed=6)
    weights = np.random.default_rng(7).integers(1, 4, 3_000).astype(np.float64)
    for values, k, sparse in ((many, 20, True), (few, 2, False)):
        for row_weights in (None, weights):
            votes = to_votes(values, k).with_weights(row_weights)
            assert votes._sparse_gram_is_cheaper(votes.indicator.shape[1]) is sparse
            matrix = sp.csr_matrix(votes.indicator)
            scaled = matrix if row_weights is None else sp.diags(row_weights) @ matrix
            np.testing.assert_array_equal(votes.co_votes(), (matrix.T @ scaled).toarray())
            columns = np.array([7, 3, 9, 1])
            expected = (matrix.T @ scaled).toarray()[np.ix_(columns, columns)]
            np.testing.assert_array_equal(votes.co_votes(columns), expected)
    # Small grams stay dense whatever the votes.
    monkeypatch.setattr(votes_module, "_DENSE_GRAM_MIN_WORK", 1e10)
    assert not to_votes(many, 20)._sparse_gram_is_cheaper(1000)


def test_sparse_co_votes_hold_the_counts_of_either_product(parallel, monkeypatch) -> None:
    values, _, _ = make_votes(3_000, np.full(8, 0.7), k=3, coverage=0.4, seed=9)
    weights = np.random.default_rng(10).random(3_000)
    columns = np.array([20, 3, 4, 11, 0])
    for row_weights in (None, weights):
        votes = to_votes(values, 3).with_weights(row_weights)
        for dense_max in (2048, 2):  # the dense blocks, then the sparse product
            monkeypatch.setattr(votes_module, "_DENSE_GRAM_MAX_COLUMNS", dense_max)
            for chosen in (None, columns):
                found = votes.sparse_co_votes(chosen)
                assert sp.isspmatrix_csr(found) and found.has_sorted_indices
                assert np.all(found.data != 0)
                np.testing.assert_array_equal(found.toarray(), votes.co_votes(chosen))
