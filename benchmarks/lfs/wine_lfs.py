"""Rules for the cultivar of a Piedmont wine (0 Barolo, 1 Grignolino, 2 Barbera).

Written for benchmarks/label_models.py in session 10 (2026-11-25), from what is known of the
three wines, after reading the column list and the first three rows only, before any score or
per-class statistic was computed; not revised after. Barolo (Nebbiolo) is strong, tannic and
rich in proline; Grignolino is a pale, light, lower-alcohol wine; Barbera is deeply coloured,
acidic (malic acid) and low in tannins, so low in flavanoids and phenols, with a hue towards
brown-orange and a low OD280/OD315 ratio. The cut-offs are round numbers, not fitted; this data
(Forina et al., as scikit-learn bundles it) is a common teaching set, so the author's memory of
where its classes lie may have shaped them more than it did for the other rule files.
"""

import numpy as np
import pandas as pd

from gristmill import ABSTAIN, labeling_function, threshold_lf

BAROLO, GRIGNOLINO, BARBERA = range(3)


def _votes(condition: pd.Series, label: int) -> np.ndarray:
    """``label`` where the condition holds, abstain elsewhere."""
    return np.where(condition.to_numpy(dtype=bool), label, ABSTAIN)


# Barolo: strong, tannic, proline-rich.
strong = threshold_lf("alcohol", BAROLO, lower=13.5, name="strong")
proline_rich = threshold_lf("proline", BAROLO, lower=1000, name="proline_rich")


@labeling_function(vectorized=True)
def tannic(frame):
    """Flavanoids of 2.5 or more and total phenols of 2.5 or more."""
    return _votes((frame["flavanoids"] >= 2.5) & (frame["total_phenols"] >= 2.5), BAROLO)


# Grignolino: light and pale.
light_alcohol = threshold_lf("alcohol", GRIGNOLINO, upper=12.5, name="light_alcohol")
pale = threshold_lf("color_intensity", GRIGNOLINO, upper=3.5, name="pale")
little_proline = threshold_lf("proline", GRIGNOLINO, upper=600, name="little_proline")


@labeling_function(vectorized=True)
def pale_and_fresh(frame):
    """Colour under 4 with a hue of 1 or more (not browning)."""
    return _votes((frame["color_intensity"] < 4) & (frame["hue"] >= 1), GRIGNOLINO)


# Barbera: dark, acidic, few tannins.
dark = threshold_lf("color_intensity", BARBERA, lower=7, name="dark")
few_flavanoids = threshold_lf("flavanoids", BARBERA, upper=1.2, name="few_flavanoids")
acidic = threshold_lf("malic_acid", BARBERA, lower=3, name="acidic")
brown_hue = threshold_lf("hue", BARBERA, upper=0.75, name="brown_hue")
low_od_ratio = threshold_lf("od280/od315_of_diluted_wines", BARBERA, upper=2, name="low_od_ratio")


# Several classes.
@labeling_function(vectorized=True)
def colour(frame):
    """Grignolino under 3.5 of colour, Barbera from 7."""
    intensity = frame["color_intensity"]
    return np.select([intensity < 3.5, intensity >= 7], [GRIGNOLINO, BARBERA], default=ABSTAIN)


@labeling_function(vectorized=True)
def phenols(frame):
    """Barolo at 2.8 or more total phenols, Barbera at 1.8 or less."""
    total = frame["total_phenols"]
    return np.select([total >= 2.8, total <= 1.8], [BAROLO, BARBERA], default=ABSTAIN)
