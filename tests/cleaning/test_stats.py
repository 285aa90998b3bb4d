"""Statistics of the repair model: truth discovery's copy detection."""

from __future__ import annotations

import numpy as np
import pandas as pd

from gristmill.cleaning._stats import CodedTable, copy_clusters


def test_copy_clusters_handles_a_source_per_row_without_a_square_matrix() -> None:
    # ~200,000 sources (one per row): a dense sources x sources count matrix would need
    # hundreds of GB. Sources 0-3 copy each other on 12 contested flights (a cluster of 4);
    # source 4 disagrees with them on every flight it shares; the rest never meet twice.
    n = 200_000
    flights, sources, times = [], [], []
    for flight in range(12):
        for source in range(5):
            flights.append(f"f{flight}")
            sources.append(f"s{source}")
            times.append("copied" if source < 4 else f"own {flight}")
    rest = n - len(flights)
    flights += [f"g{i // 2}" for i in range(rest)]
    sources += [f"s{5 + i}" for i in range(rest)]
    times += [f"t{i}" for i in range(rest)]
    table = CodedTable.from_frame(
        pd.DataFrame({"flight": flights, "src": sources, "time": times}).astype("string")
    )
    sizes = copy_clusters(table, 1, [([0], 2)])
    assert sizes.shape == (table.cardinality(1),)
    code = {name: i for i, name in enumerate(table.uniques[1])}
    assert [sizes[code[f"s{k}"]] for k in range(5)] == [4.0, 4.0, 4.0, 4.0, 1.0]
    assert np.all(np.delete(sizes, [code[f"s{k}"] for k in range(4)]) == 1.0)
