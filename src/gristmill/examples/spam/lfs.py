"""Labeling functions for the YouTube spam example (class 0 = HAM, 1 = SPAM).

Each function votes a class or abstains (-1) for one YouTube comment; gristmill applies them all
and a label model weighs their votes. Try ``gristmill lfs apply --data data/youtube.csv --lfs
lfs.py --out L.parquet`` then ``gristmill lfs summary L.parquet --labels data/youtube.csv
--label-column CLASS``.
"""

from gristmill import (
    ABSTAIN,
    keyword_lf,
    labeling_function,
    preprocessor,
    regex_lf,
)

HAM = 0
SPAM = 1

# Spammers point at their own content and ask for clicks.
keyword_my = keyword_lf(["my"], SPAM, column="CONTENT", name="keyword_my")
keyword_subscribe = keyword_lf(
    ["subscribe"], SPAM, column="CONTENT", word_boundary=False, name="keyword_subscribe"
)
keyword_link = keyword_lf(
    ["http", "www.", ".com"], SPAM, column="CONTENT", word_boundary=False, name="keyword_link"
)
keyword_please = keyword_lf(["please", "plz"], SPAM, column="CONTENT", name="keyword_please")
keyword_money = keyword_lf(
    ["money", "earn", "free", "win"], SPAM, column="CONTENT", name="keyword_money"
)
regex_check_out = regex_lf(r"check.*out", SPAM, column="CONTENT", case_sensitive=False)

# Fans talk about the song.
keyword_song = keyword_lf(["song"], HAM, column="CONTENT", name="keyword_song")


@preprocessor()
def words(x):
    """Lower-cased words of the comment, computed once and shared by the LFs below."""
    return {"words": str(x.CONTENT).lower().split()}


@labeling_function(pre=[words])
def short_comment(x):
    """Very short comments ("so good", "lol") are mostly fans reacting."""
    return HAM if len(x.words) < 5 else ABSTAIN


@labeling_function(pre=[words])
def mentions_artist(x):
    """A comment naming the video's artist is usually about the video."""
    artist = {"KatyPerry": "katy", "LMFAO": "lmfao"}.get(x.VIDEO, str(x.VIDEO).lower())
    return HAM if any(artist in word for word in x.words) else ABSTAIN


@labeling_function(vectorized=True)
def shouting(frame):
    """Several exclamation marks in one comment: a call to action."""
    counts = frame["CONTENT"].fillna("").str.count("!").to_numpy()
    return (counts >= 3).astype("int8") * (SPAM - ABSTAIN) + ABSTAIN
