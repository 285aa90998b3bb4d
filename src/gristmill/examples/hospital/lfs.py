"""Labeling functions for the hospital example: which condition does a quality measure track?

Classes (their order in ``gristmill.yaml``): 0 heart attack, 1 heart failure, 2 pneumonia,
3 surgical infection prevention, 4 children's asthma care. Each function votes a class or
abstains (-1). Some are deliberately partial or noisy (``heart`` words appear in several
conditions, antibiotics in two); the label model weighs them. ``recorded_condition`` reads the
table's own ``Condition`` cell, which only agrees with a class once the cleaning stage has
fixed its typos.
"""

from gristmill import ABSTAIN, keyword_lf, labeling_function

HEART_ATTACK, HEART_FAILURE, PNEUMONIA, SURGERY, ASTHMA = range(5)
CLASSES = [
    "heart attack",
    "heart failure",
    "pneumonia",
    "surgical infection prevention",
    "children s asthma care",
]

# The measure's name usually starts with the patients it is about.
keyword_heart_attack = keyword_lf(
    ["heart attack"], HEART_ATTACK, column="MeasureName", name="keyword_heart_attack"
)
keyword_heart_failure = keyword_lf(
    ["heart failure"], HEART_FAILURE, column="MeasureName", name="keyword_heart_failure"
)
keyword_pneumonia = keyword_lf(
    ["pneumonia", "pneumococcal", "influenza"],
    PNEUMONIA,
    column="MeasureName",
    name="keyword_pneumonia",
)
keyword_surgery = keyword_lf(
    ["surgery", "surgical", "surgeries"], SURGERY, column="MeasureName", name="keyword_surgery"
)
keyword_asthma = keyword_lf(
    ["asthma", "children"], ASTHMA, column="MeasureName", name="keyword_asthma"
)

# Treatments: informative but shared between conditions (noisy on purpose).
keyword_aspirin = keyword_lf(["aspirin"], HEART_ATTACK, column="MeasureName", name="aspirin")
keyword_antibiotic = keyword_lf(
    ["antibiotic", "antibiotics"], PNEUMONIA, column="MeasureName", name="antibiotic"
)
keyword_ventricular = keyword_lf(
    ["ventricular"], HEART_FAILURE, column="MeasureName", name="ventricular"
)


@labeling_function()
def measure_code_prefix(x):
    """The measure code's prefix names the programme: ami, hf, pn, scip, cac."""
    prefix = str(x.MeasureCode).split("-")[0]
    votes = {"ami": HEART_ATTACK, "hf": HEART_FAILURE, "pn": PNEUMONIA, "scip": SURGERY}
    return votes.get(prefix, ASTHMA if prefix == "cac" else ABSTAIN)


@labeling_function()
def recorded_condition(x):
    """The condition the table records, when it is spelled like a class."""
    value = str(x.Condition)
    return CLASSES.index(value) if value in CLASSES else ABSTAIN
