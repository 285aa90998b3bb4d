"""The Dask engine computes the same statistics, hence the same repairs, as pandas."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from gristmill.cleaning import Cleaner, read_constraints
from gristmill.io import read_table

dask = pytest.importorskip("dask")
dd = pytest.importorskip("dask.dataframe")

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "cleaning"
# The repaired table keeps its input's dtypes; by default Dask turns pandas' "str" columns into
# "string[pyarrow]" ones, which would make the two inputs differ before any repair.
SAME_DTYPES = {"scheduler": "threads", "dataframe.convert-string": False}


def sourced_table(seed: int = 3) -> pd.DataFrame:
    """Flights reported by sources of unequal quality, with a flight -> gate FD and gaps."""
    rng = np.random.default_rng(seed)
    rows = []
    for f in range(150):
        time = f"{rng.integers(1, 12)}:{rng.integers(10, 59)}"
        gate = f"g{rng.integers(1, 30)}"
        for source in ("good1", "good2", "bad"):
            wrong = source == "bad" and rng.random() < 0.4
            rows.append(
                {
                    "src": source,
                    "flight": f"f{f}",
                    "time": "0:00" if wrong else time,
                    "gate": None if rng.random() < 0.05 else gate,
                }
            )
    return pd.DataFrame(rows)


def assert_same_repairs(left: pd.DataFrame, right: pd.DataFrame) -> None:
    keys = ["row", "column", "old", "new", "detectors"]
    pd.testing.assert_frame_equal(left[keys], right[keys])
    np.testing.assert_allclose(left["probability"], right["probability"], atol=1e-9)


@pytest.mark.parametrize("name", [pytest.param("hospital", marks=pytest.mark.slow), "sources"])
def test_dask_and_pandas_engines_give_identical_repairs(name: str) -> None:
    if name == "hospital":
        table = read_table(FIXTURES / "hospital100_dirty.csv", as_strings=True)
        constraints = read_constraints(FIXTURES / "hospital_constraints.txt")
    else:
        table, constraints = sourced_table(), ["flight -> time, gate"]
    pandas_fit = Cleaner(constraints=constraints, n_training_cells=2000).fit(table)
    with dask.config.set(SAME_DTYPES):
        partitioned = dd.from_pandas(table, npartitions=3, sort=False)
        dask_fit = Cleaner(constraints=constraints, n_training_cells=2000).fit(partitioned)
    assert len(pandas_fit.repairs_) > 10
    assert_same_repairs(pandas_fit.repairs_, dask_fit.repairs_)
    pd.testing.assert_frame_equal(pandas_fit.repaired_, dask_fit.repaired_)


def test_engine_option_partitions_a_pandas_table() -> None:
    table = sourced_table(seed=4)
    with dask.config.set(scheduler="threads"):
        dask_fit = Cleaner(constraints=["flight -> time"], engine="dask", partition_rows=100).fit(
            table
        )
    pandas_fit = Cleaner(constraints=["flight -> time"], engine="pandas").fit(table)
    assert_same_repairs(pandas_fit.repairs_, dask_fit.repairs_)
    with pytest.raises(ValueError, match="'engine' parameter of Cleaner"):
        Cleaner(engine="spark").fit(table)


def test_an_all_missing_column_and_integer_labels_on_both_engines() -> None:
    table = sourced_table(seed=5).assign(note=None)
    table.columns = [0, 1, 2, 3, 4]
    pandas_fit = Cleaner(constraints=["1 -> 2, 3"], engine="pandas").fit(table)
    with dask.config.set(SAME_DTYPES):
        dask_fit = Cleaner(constraints=["1 -> 2, 3"]).fit(dd.from_pandas(table, npartitions=3))
    assert len(pandas_fit.repairs_) > 10
    assert set(pandas_fit.repairs_["column"]) <= {2, 3}
    assert_same_repairs(pandas_fit.repairs_, dask_fit.repairs_)
    pd.testing.assert_frame_equal(pandas_fit.repaired_, dask_fit.repaired_)
    assert pandas_fit.repaired_.columns.equals(table.columns)
