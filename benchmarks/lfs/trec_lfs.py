"""Labeling functions for TREC question types, written for benchmarks/label_models.py.

Classes: 0 DESC (description), 1 ENTY (entity), 2 HUM (human), 3 ABBR (abbreviation), 4 LOC
(location), 5 NUM (numeric). Written once in session 7 from the question words and answer-type
nouns that mark each type (Li & Roth 2002 describe the classes), after reading a handful of
train questions and before any score was computed; not revised after. Independent of WRENCH's
68 trec LFs. Questions are lower-case in this data.
"""

from gristmill import regex_lf

DESC, ENTY, HUM, ABBR, LOC, NUM = range(6)

who = regex_lf(r"^(who|whom|whose)\b", HUM, name="who")
human_noun = regex_lf(
    r"\b(what|which|name the)\s+(\w+\s+)?(person|man|woman|actor|actress|president|author|"
    r"writer|king|queen|singer|player|company|team|group|organization|inventor|artist)\b",
    HUM,
    name="human_noun",
)
where = regex_lf(r"^where\b", LOC, name="where")
place_noun = regex_lf(
    r"\b(what|which)\s+(\w+\s+)?(country|countries|city|cities|state|states|continent|river|"
    r"mountain|island|ocean|sea|lake|capital|county|province|place|planet|desert)\b",
    LOC,
    name="place_noun",
)
when = regex_lf(r"^when\b", NUM, name="when")
how_much = regex_lf(
    r"^how\s+(many|much|long|far|old|tall|big|large|fast|hot|cold|often|deep|high|wide|heavy)\b",
    NUM,
    name="how_much",
)
number_noun = regex_lf(
    r"\bwhat\s+(\w+\s+)?(year|date|day|month|percentage|percent|number|population|temperature|"
    r"distance|speed|age|time|price|cost|size|weight|length|height)\b",
    NUM,
    name="number_noun",
)
stands_for = regex_lf(
    r"\b(stand for|stands for|abbreviation|acronym|abbreviated|full form)\b",
    ABBR,
    name="stands_for",
)
why = regex_lf(r"^why\b", DESC, name="why")
how_to = regex_lf(
    r"^how\s+(do|does|did|can|could|is|are|was|were|to|should)\b", DESC, name="how_to"
)
definition = regex_lf(
    r"\b(mean|meaning|definition|define|origin|describe|difference between)\b|"
    r"^what (is|are) (a|an)\s+\w+\s*\?$",
    DESC,
    name="definition",
)
entity_noun = regex_lf(
    r"\b(what|which)\s+(\w+\s+)?(animal|color|colour|food|book|movie|film|game|sport|instrument|"
    r"language|disease|plant|song|drink|breed|car|product|bird|dog|flower|novel|play|award|"
    r"religion|currency|material|substance|element)\b",
    ENTY,
    name="entity_noun",
)
kind_of = regex_lf(r"\bwhat\s+(kind|type|sort|brand)s?\s+of\b", ENTY, name="kind_of")
