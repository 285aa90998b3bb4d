"""Data repair: constraints, error detection, holistic repair, imputation and evaluation.

>>> import pandas as pd
>>> from gristmill.cleaning import clean
>>> table = pd.DataFrame({"zip": ["1"] * 4, "city": ["a", "a", "a", "b"]})
>>> repaired, repairs = clean(table, ["zip -> city"])
>>> repairs[["row", "column", "old", "new"]].values.tolist()
[[3, 'city', 'b', 'a']]
"""

from gristmill.cleaning._attention import AttentionImputer
from gristmill.cleaning._columns import TableImputer, infer_column_types
from gristmill.cleaning._constraints import (
    Constraints,
    DenialConstraint,
    Dictionary,
    DomainRule,
    FunctionalDependency,
    Predicate,
    parse_constraints,
    read_constraints,
)
from gristmill.cleaning._detect import DEFAULT_PLACEHOLDERS, detect_errors, infer_source_column
from gristmill.cleaning._evaluate import evaluate
from gristmill.cleaning._examples import ExampleTransforms, read_examples
from gristmill.cleaning._impute_baselines import (
    IterativeRegressionImputer,
    MeanModeImputer,
    NeighborsImputer,
    TreesImputer,
    get_imputer,
)
from gristmill.cleaning._repair import FEATURE_NAMES, Cleaner, apply_repairs, clean

__all__ = [
    "DEFAULT_PLACEHOLDERS",
    "FEATURE_NAMES",
    "AttentionImputer",
    "Cleaner",
    "Constraints",
    "DenialConstraint",
    "Dictionary",
    "DomainRule",
    "ExampleTransforms",
    "FunctionalDependency",
    "IterativeRegressionImputer",
    "MeanModeImputer",
    "NeighborsImputer",
    "Predicate",
    "TableImputer",
    "TreesImputer",
    "apply_repairs",
    "clean",
    "detect_errors",
    "evaluate",
    "get_imputer",
    "infer_column_types",
    "infer_source_column",
    "parse_constraints",
    "read_constraints",
    "read_examples",
]
