"""Transformations learned from corrected examples: swapped date parts and mojibake."""

from __future__ import annotations

import numpy as np
import pandas as pd

from gristmill.cleaning import Cleaner, ExampleTransforms, evaluate

NAMES = ["Café Noir", "Müller", "São Paulo", "Zoë", "Ångström", "Niño", "Straße", "Crème"]


def test_swapped_fields_are_learned_and_applied_only_where_they_overflow() -> None:
    dirty = pd.DataFrame({"d": ["03/25/2020", "13/03/2020", "11/03/2020", "31/01/2019"]})
    fixed = pd.DataFrame({"d": ["03/25/2020", "03/13/2020", "11/03/2020", "01/31/2019"]})
    learned = ExampleTransforms().fit(dirty, fixed)
    kinds = [t.kind for t, _ in learned.transforms_["d"]]
    assert kinds[0] == "swap"
    other = pd.Series(["28/02/2020", "02/28/2020", "04/05/2020", "bad", None, "7/30/2021"])
    proposal, confidence = learned.propose(other, "d")
    # Only the value whose first field cannot be a month in the corrected layout is swapped;
    # 04/05 fits both readings and is left to the other signals.
    assert proposal.tolist() == ["02/28/2020", pd.NA, pd.NA, pd.NA, pd.NA, pd.NA]
    assert confidence[0] > 0.5 and (confidence[1:] == 0).all()


def test_mojibake_is_learned_from_one_column_and_fixed_in_every_column() -> None:
    dirty = pd.DataFrame({"name": ["CafÃ©", "Zoë", "MÃ¼ller", "abc"]})
    fixed = pd.DataFrame({"name": ["Café", "Zoë", "Müller", "abc"]})
    learned = ExampleTransforms().fit(dirty, fixed)
    city = pd.Series(["SÃ£o Paulo", "Köln", "Nîmes", "plain"])
    proposal, _ = learned.propose(city, "city")  # a column the examples do not cover
    assert proposal.tolist() == ["São Paulo", pd.NA, pd.NA, pd.NA]


def test_no_lesson_without_such_corrections() -> None:
    dirty = pd.DataFrame({"d": ["01/02/2020", "Zoë"]})
    learned = ExampleTransforms().fit(dirty, dirty.copy())
    assert learned.transforms_.get("d", []) == [] or all(
        t.kind not in ("swap", "mojibake") for t, _ in learned.transforms_["d"]
    )
    assert learned.table_wide_ == []


def test_cleaner_repairs_swaps_and_mojibake_table_wide_from_20_examples() -> None:
    rng = np.random.default_rng(0)
    n = 600
    truth = pd.DataFrame(
        {
            "id": [f"p{i}" for i in range(n)],
            "name": [f"{NAMES[i % len(NAMES)]} {i % 50}" for i in range(n)],
            "date": [
                f"{rng.integers(1, 13):02d}/{rng.integers(1, 29):02d}/20{rng.integers(10, 24)}"
                for _ in range(n)
            ],
            "kind": [f"k{i % 5}" for i in range(n)],
        }
    )
    dirty = truth.copy()
    broken = rng.random(n) < 0.1
    dirty.loc[broken, "name"] = [
        v.encode("utf-8").decode("cp1252") for v in truth.loc[broken, "name"]
    ]
    parts = truth["date"].str.split("/", expand=True)
    swap = (rng.random(n) < 0.1) & (parts[1].astype(int) > 12)
    dirty.loc[swap, "date"] = parts[1][swap] + "/" + parts[0][swap] + "/" + parts[2][swap]
    picked = np.sort(rng.choice(n, 20, replace=False))
    examples = truth.iloc[picked].copy()
    examples.insert(0, "_row", picked)
    fitted = Cleaner().fit(dirty, examples=examples)
    others = np.setdiff1d(np.arange(n), picked)
    scores = evaluate(dirty.iloc[others], fitted.repaired_.iloc[others], truth.iloc[others])
    assert scores["n_errors"] > 80
    assert scores["repair_precision"] >= 0.95
    assert scores["repair_recall"] >= 0.75
    assert set(fitted.repairs_["column"]) == {"name", "date"}
