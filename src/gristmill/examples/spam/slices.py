"""Slices of the YouTube spam example: subsets whose quality the report shows separately."""

from gristmill import slicing_function


@slicing_function()
def short_comment(x):
    """Comments of fewer than five words: little text to go on."""
    return len(str(x.CONTENT).split()) < 5


@slicing_function()
def no_keyword_signal(x):
    """Comments without the usual spam words: the LFs mostly abstain here."""
    text = str(x.CONTENT).lower()
    return not any(word in text for word in ("check", "subscribe", "http", "my ", "please"))


@slicing_function(vectorized=True)
def shouting(frame):
    """Comments with three or more exclamation marks."""
    return frame["CONTENT"].fillna("").str.count("!").to_numpy() >= 3
