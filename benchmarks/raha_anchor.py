"""Raha -> Baran end to end on one dataset, labelling the tuples we choose (an anchor only).

Runs inside ``benchmarks/.venv-raha`` (raha 1.26 needs pandas < 2; it is never a gristmill
dependency). ``benchmarks/clean.py --raha`` calls it in a subprocess::

    benchmarks/.venv-raha/bin/python benchmarks/raha_anchor.py DATA_DIR OUT.csv [--rows 3,17,...]

Raha (detection) and Baran (correction) normally pick the tuples to label themselves; here both
are given the same rows, in order, as the corrected examples gristmill gets (without ``--rows``,
raha chooses its 20 tuples itself), and label them from
``clean.csv`` as raha's own benchmark does. Prints one JSON line: seconds, detected cells.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import tempfile
import time

import raha


def _label_these(rows: list[int]) -> None:
    """Make raha's detection and correction label ``rows``, in order, instead of sampling."""
    queue = {"detection": list(rows), "correction": list(rows)}

    def take(step: str, original):  # noqa: ANN001, ANN202 - wraps raha's sample_tuple
        def sample_tuple(self, d) -> None:  # noqa: ANN001
            original(self, d)  # keeps raha's bookkeeping (labels per cluster)
            d.sampled_tuple = queue[step].pop(0)

        return sample_tuple

    raha.Detection.sample_tuple = take("detection", raha.Detection.sample_tuple)
    raha.Correction.sample_tuple = take("correction", raha.Correction.sample_tuple)


def run(data_dir: str, out: str, rows: list[int] | None) -> dict[str, float]:
    """Run Raha then Baran; ``rows`` None lets raha choose its 20 tuples itself."""
    budget = 20 if rows is None else len(rows)
    if rows is not None:
        _label_these(rows)
    with tempfile.TemporaryDirectory() as folder:
        # raha writes result folders next to its input: work on a copy.
        for name in ("dirty.csv", "clean.csv"):
            shutil.copy(os.path.join(data_dir, name), os.path.join(folder, name))
        dataset = {
            "name": os.path.basename(os.path.normpath(data_dir)),
            "path": os.path.join(folder, "dirty.csv"),
            "clean_path": os.path.join(folder, "clean.csv"),
        }
        start = time.perf_counter()
        detection = raha.Detection()
        detection.LABELING_BUDGET = budget
        detection.SAVE_RESULTS = False
        detected = detection.run(dataset)
        data = raha.dataset.Dataset(dataset)
        data.detected_cells = dict(detected)
        correction = raha.Correction()
        correction.LABELING_BUDGET = budget
        correction.SAVE_RESULTS = False
        correction.NUM_WORKERS = os.cpu_count() or 1
        corrected = correction.run(data)
        seconds = time.perf_counter() - start
        repaired = data.dataframe.copy()
        for (i, j), value in corrected.items():
            repaired.iat[i, j] = value
        repaired.to_csv(out, index=False)
    return {"seconds": seconds, "detected": len(detected), "corrected": len(corrected)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data_dir")
    parser.add_argument("out")
    parser.add_argument(
        "--rows", help="comma-separated 0-based rows to label (default: raha chooses 20)"
    )
    args = parser.parse_args()
    rows = None if args.rows is None else [int(r) for r in args.rows.split(",")]
    print(json.dumps(run(args.data_dir, args.out, rows)))


if __name__ == "__main__":
    main()
