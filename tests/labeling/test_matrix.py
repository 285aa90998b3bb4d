from __future__ import annotations

import re
import tracemalloc
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import scipy.sparse as sp

from gristmill import DataError, LabelMatrix, LFError
from gristmill.labeling import _matrix as matrix_module
from gristmill.labeling import as_label_array, as_sparse_labels, compact_label_dtype


def test_compact_dtype_and_shape() -> None:
    L = LabelMatrix(np.array([[0, -1], [1, 1]], dtype=np.int64), ["a", "b"])
    assert L.values.dtype == np.int8
    assert L.shape == (2, 2)
    assert LabelMatrix([[300, -1]], ["a", "b"]).values.dtype == np.int16


def test_names_checked() -> None:
    with pytest.raises(LFError, match="'a' appears twice"):
        LabelMatrix([[0, 1]], ["a", "a"])
    with pytest.raises(LFError, match="2 columns"):
        LabelMatrix([[0, 1]], ["a"])


def test_column_of_an_unknown_lf_lists_the_lfs_it_has() -> None:
    L = LabelMatrix([[0, 1]], ["keyword_buy", "threshold_stars_ge_4"])
    assert L.column("keyword_buy").tolist() == [0]
    message = r"No labeling function named 'stars'; the matrix has \['keyword_buy', 'thresh"
    with pytest.raises(LFError, match=message) as info:
        L.column("stars")
    assert info.value.lf_name == "stars"


def test_values_checked() -> None:
    with pytest.raises(DataError, match=r"'a' votes -2 at row 0; votes must be -1 \(abstain\)"):
        LabelMatrix([[-2, 1]], ["a", "b"])
    with pytest.raises(DataError, match=r"'b' votes 1e\+20 at row 'r'"):
        LabelMatrix([[0, 1e20]], ["a", "b"], index=pd.Index(["r"]))
    with pytest.raises(DataError, match=r"'b' votes 9223372036854775808 at row 0"):
        LabelMatrix(np.array([[0, 2**63]], dtype=np.uint64), ["a", "b"])
    with pytest.raises(DataError, match="found the negative value -2"):
        LabelMatrix.from_sparse(sp.csr_matrix(np.array([[0, -2]])), ["a", "b"])
    with pytest.raises(DataError, match="2-D"):
        LabelMatrix([0, 1], ["a", "b"])


def test_values_that_are_not_integers_are_named() -> None:
    with pytest.raises(DataError, match=r"'b' holds 0.5 at row 1; votes must be integers"):
        LabelMatrix([[0, 1], [1, 0.5]], ["a", "b"])
    with pytest.raises(DataError, match=r"'a' holds nan at row 'y'"):
        LabelMatrix([[0, 1], [np.nan, 0]], ["a", "b"], index=pd.Index(["x", "y"]))
    with pytest.raises(DataError, match=r"'b' holds inf at row 0"):
        LabelMatrix([[0, np.inf]], ["a", "b"])
    with pytest.raises(DataError, match="dtype object"):
        LabelMatrix(np.array([[0, None]], dtype=object), ["a", "b"])


def test_from_frame_takes_numpy_and_nullable_columns() -> None:
    frame = pd.DataFrame(
        {"kw": [0, -1, 1], "rule": pd.array([1, 1, -1], dtype="Int8"), "model": [0.0, 1.0, -1.0]},
        index=pd.Index([10, 11, 12]),
    )
    L = LabelMatrix.from_frame(frame)
    assert L.lf_names == ("kw", "rule", "model")
    assert L.values.tolist() == [[0, 1, 0], [-1, 1, 1], [1, -1, -1]]
    assert L.index.tolist() == [10, 11, 12]
    assert LabelMatrix.from_frame(frame[["kw", "model"]]).values.dtype == np.int8


def test_from_frame_takes_bool_columns_beside_number_columns() -> None:
    # pandas makes an object array of bool and int columns together.
    frame = pd.DataFrame({"flag": [True, False], "kw": [1, -1], "model": [0.0, 1.0]})
    assert LabelMatrix.from_frame(frame).values.tolist() == [[1, 1, 0], [0, -1, 1]]
    with pytest.raises(DataError, match=r"'model' holds 0.5 at row 1"):
        LabelMatrix.from_frame(frame.assign(model=[0.0, 0.5]))


def test_from_frame_names_the_column_and_row_at_fault() -> None:
    frame = pd.DataFrame({"kw": [0, -1], "rule": pd.array([1, None], dtype="Int8")})
    with pytest.raises(DataError, match=r"'rule' has a missing vote at row 1; abstain with -1"):
        LabelMatrix.from_frame(frame)
    with pytest.raises(DataError, match=r"'kw' holds nan at row 'b'"):
        LabelMatrix.from_frame(pd.DataFrame({"kw": [0.0, np.nan]}, index=["a", "b"]))
    with pytest.raises(DataError, match=r"column 'rule' holds (str|object) values; a label matrix"):
        LabelMatrix.from_frame(pd.DataFrame({"kw": [0, 1], "rule": ["spam", "ham"]}))


def test_as_label_array_reads_a_frame() -> None:
    frame = pd.DataFrame({"a": pd.array([0, -1], dtype="Int16"), "b": [1, 1]})
    assert as_label_array(frame).tolist() == [[0, 1], [-1, 1]]


def test_sparse_round_trip() -> None:
    L = LabelMatrix([[0, -1, 2], [-1, -1, 1]], ["a", "b", "c"])
    S = L.to_sparse()
    assert S.nnz == 3
    assert LabelMatrix.from_sparse(S, L.lf_names) == L
    assert np.array_equal(as_label_array(S), L.values)
    assert np.array_equal(as_sparse_labels(L.values).toarray(), S.toarray())


def test_sparse_at_dtype_boundary() -> None:
    L = LabelMatrix([[127, -1]], ["a", "b"])
    assert L.to_sparse().toarray().tolist() == [[128, 0]]


def test_sparse_conversions_row_block_by_row_block_equal_scipys(monkeypatch) -> None:
    monkeypatch.setattr(matrix_module, "_SPARSE_CHUNK_CELLS", 7)  # blocks of 1 row, 7 cells
    rng = np.random.default_rng(0)
    for n, m, k in [(0, 3, 2), (4, 0, 2), (300, 5, 3), (200, 9, 300), (50, 2, 128)]:
        values = rng.integers(-1, k, (n, m))
        values[rng.random((n, m)) < 0.6] = -1
        L = LabelMatrix(values, [f"lf{j}" for j in range(m)])
        shifted = L.values.astype(compact_label_dtype(int(values.max(initial=0)) + 1))
        expected = sp.csr_matrix(shifted + 1)
        found = L.to_sparse()
        assert found.dtype == expected.dtype and found.indices.dtype == expected.indices.dtype
        for part in ("data", "indices", "indptr"):
            np.testing.assert_array_equal(getattr(found, part), getattr(expected, part))
        for form in (sp.csr_matrix, sp.coo_matrix, sp.csc_matrix):
            back = LabelMatrix.from_sparse(form(found), L.lf_names)
            assert back == L and back.values.dtype == L.values.dtype
        as_float = LabelMatrix.from_sparse(found.astype(np.float64), L.lf_names)
        assert as_float == L
    # Entries stored twice add up, as in toarray(); a stored 0 abstains.
    twice = sp.coo_matrix(([1, 1, 0], ([0, 0, 1], [1, 1, 0])), shape=(2, 2))
    assert LabelMatrix.from_sparse(twice, ["a", "b"]).values.tolist() == [[-1, 1], [-1, -1]]


def test_from_sparse_names_stored_values_that_are_no_class() -> None:
    # They were cast to int64: 1.5 became class 0, 1e20 a wrapped-around number.
    half = sp.csr_matrix(np.array([[0.0, 0.0], [0.0, 1.5]]))
    with pytest.raises(DataError, match=r"'b' holds 0.5 at row 1; votes must be integers"):
        LabelMatrix.from_sparse(half, ["a", "b"])
    huge = sp.csr_matrix(np.array([[0.0, 1e20]]))
    with pytest.raises(DataError, match=r"'b' votes 1e\+20 at row 0"):
        LabelMatrix.from_sparse(huge, ["a", "b"])
    with pytest.raises(DataError, match=r"'a' holds nan at row 0"):
        LabelMatrix.from_sparse(sp.csr_matrix(np.array([[np.nan, 1.0]])), ["a", "b"])


def test_sparse_conversions_make_no_wide_dense_copy() -> None:
    # A crowd-like matrix: many columns, few votes. Its dense votes are n * m bytes (int8);
    # from_sparse went through an int64 copy (8 n m) and to_sparse through shifted copies.
    n, m = 20_000, 500
    rng = np.random.default_rng(1)
    rows, columns = rng.integers(0, n, 50_000), rng.integers(0, m, 50_000)
    sparse = sp.csr_matrix((rng.integers(1, 3, 50_000), (rows, columns)), shape=(n, m))
    sparse.data = np.minimum(sparse.data, 2)  # entries drawn twice were added
    names = [f"worker_{j}" for j in range(m)]
    tracemalloc.start()
    try:
        L = LabelMatrix.from_sparse(sparse, names)
        held, from_sparse_peak = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        back = L.to_sparse()
        _, to_sparse_peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert (back != sparse).nnz == 0
    assert L.nbytes == n * m  # int8
    assert from_sparse_peak < 2.5 * n * m  # the result and one check of it at a time
    assert to_sparse_peak - held < 0.75 * n * m


def test_parquet_round_trip_with_index(tmp_path: Path) -> None:
    L = LabelMatrix([[0, -1], [1, 1]], ["a", "b"], index=pd.Index([10, 20]))
    path = L.to_parquet(tmp_path / "L.parquet")
    back = LabelMatrix.from_parquet(path)
    assert back == L
    assert back.index.tolist() == [10, 20]


@pytest.mark.parametrize(
    "index",
    [
        pd.Index(["x", "y"]),
        pd.MultiIndex.from_tuples([(1, "x"), (2, "y")], names=["doc", "part"]),
        pd.DatetimeIndex(["2024-01-01", "2024-01-02"]),
        # the rows of df.iloc[100:102] or df.iloc[::2]: not 0..n-1, so saved too
        pd.RangeIndex(100, 102),
        pd.RangeIndex(0, 4, 2),
    ],
)
def test_parquet_keeps_any_index_pandas_can_store(tmp_path: Path, index: pd.Index) -> None:
    L = LabelMatrix([[0, -1], [1, 1]], ["a", "b"], index=index)
    back = LabelMatrix.from_parquet(L.to_parquet(tmp_path / "L.parquet"))
    assert back == L
    assert back.index.equals(index) and back.index.names == index.names


def test_parquet_errors_name_the_file(tmp_path: Path) -> None:
    mixed = LabelMatrix([[0], [1]], ["a"], index=pd.Index([1, "x"], dtype=object))
    with pytest.raises(DataError, match=r"M.parquet: the label matrix's row index cannot be"):
        mixed.to_parquet(tmp_path / "M.parquet")
    assert not (tmp_path / "M.parquet").exists()
    path = LabelMatrix([[0, 1]], ["a", "b"]).to_parquet(tmp_path / "L.parquet")
    table = pq.read_table(path)
    pq.write_table(table.drop_columns(["b"]), path)
    with pytest.raises(DataError, match=r"L.parquet: its metadata names column\(s\) \['b'\]"):
        LabelMatrix.from_parquet(path)
    meta = {**table.schema.metadata, b"gristmill.label_matrix": b"{not json"}
    pq.write_table(table.replace_schema_metadata(meta), path)
    with pytest.raises(DataError, match="L.parquet: its gristmill label-matrix metadata is dam"):
        LabelMatrix.from_parquet(path)


def test_parquet_written_elsewhere_is_read_one_lf_per_column(tmp_path: Path) -> None:
    path = tmp_path / "x.parquet"
    frame = pd.DataFrame({"kw": [1, -1], "gold": [1, 0], "rule": pd.array([0, 1], dtype="Int8")})
    frame.index = pd.Index([7, 8])
    frame.to_parquet(path)  # pandas keeps the index as its own column
    L = LabelMatrix.from_parquet(path, exclude=["gold"])
    assert L.lf_names == ("kw", "rule")
    assert L.values.tolist() == [[1, 0], [-1, 1]]
    assert L.index.tolist() == [7, 8]
    pd.DataFrame({"__row__": ["a", "b"], "kw": [1, -1]}).to_parquet(path, index=False)
    assert LabelMatrix.from_parquet(path).index.tolist() == ["a", "b"]


def test_parquet_rejects_other_files(tmp_path: Path) -> None:
    path = tmp_path / "x.parquet"
    pd.DataFrame({"kw": [1, 0], "text": ["win", "hi"]}).to_parquet(path)
    with pytest.raises(DataError, match=r"x.parquet: column 'text' holds (str|object) values"):
        LabelMatrix.from_parquet(path)
    pd.DataFrame({"kw": [1.0, np.nan]}).to_parquet(path)
    with pytest.raises(DataError, match=r"x.parquet: labeling function 'kw' holds nan at row 1"):
        LabelMatrix.from_parquet(path)
    (tmp_path / "junk.parquet").write_text("not parquet")
    with pytest.raises(DataError, match="not a Parquet file"):
        LabelMatrix.from_parquet(tmp_path / "junk.parquet")


def test_as_sparse_rejects_negative() -> None:
    with pytest.raises(DataError, match="class \\+ 1"):
        as_sparse_labels(sp.csr_matrix(np.array([[-1, 0]])))


def test_parquet_of_earlier_versions_still_loads(tmp_path: Path) -> None:
    table = pa.table({"__row__": pa.array([10, 20]), "a": pa.array(np.array([0, -1], np.int8))})
    meta = {b"gristmill.label_matrix": b'{"lf_names": ["a"], "has_index": true}'}
    pq.write_table(table.replace_schema_metadata(meta), tmp_path / "old.parquet")
    L = LabelMatrix.from_parquet(tmp_path / "old.parquet")
    assert L.index.tolist() == [10, 20] and L.values.ravel().tolist() == [0, -1]


def test_errors_name_rows_as_python_values_not_numpy_reprs() -> None:
    index = pd.Index([5, 6])
    with pytest.raises(DataError, match=r"votes -3 at row 6;"):
        LabelMatrix([[1], [-3]], ["a"], index=index)
    with pytest.raises(DataError, match=r"holds 0.5 at row 6;"):
        LabelMatrix([[1.0], [0.5]], ["a"], index=index)
    frame = pd.DataFrame({"a": pd.array([1, None], dtype="Int64")}, index=index)
    with pytest.raises(DataError, match=r"missing vote at row 6;"):
        LabelMatrix.from_frame(frame)
    pairs = pd.MultiIndex.from_tuples([("doc", 1), ("doc", 2)])
    with pytest.raises(DataError, match=re.escape("votes -3 at row ('doc', 2);")):
        LabelMatrix([[1], [-3]], ["a"], index=pairs)
