"""Labeling functions for SMS spam (0 = ham, 1 = spam), written for benchmarks/label_models.py.

Written once in session 7, from what is generally known of SMS spam (prizes, premium-rate short
codes, phone numbers, opt-out lines) and of personal messages (short, first person, plans and
slang), after reading a handful of train messages and before any score was computed; not
revised after. They are independent of WRENCH's 73 sms LFs and are applied to the texts of
each split, so the test votes belong to the test texts. Texts are lower-case in this data.
"""

from gristmill import ABSTAIN, keyword_lf, labeling_function, preprocessor, regex_lf

HAM = 0
SPAM = 1

# Spam: something to win or claim, money, premium-rate replies, links, opt-out lines.
prize = keyword_lf(
    ["prize", "won", "winner", "award", "reward", "cash", "bonus", "jackpot"], SPAM, name="prize"
)
claim = keyword_lf(["claim", "redeem", "collect", "guaranteed", "selected"], SPAM, name="claim")
free = keyword_lf(["free", "freemsg", "offer", "voucher", "discount"], SPAM, name="free")
urgent = keyword_lf(["urgent", "important", "final attempt", "last chance"], SPAM, name="urgent")
short_code = regex_lf(r"\b(txt|text|reply|send|call)\b.{0,25}\b\d{5}\b", SPAM, name="short_code")
phone_number = regex_lf(r"\b0\d{9,10}\b", SPAM, name="phone_number")
price = regex_lf(r"£|\$|\b\d+p\b|\bp/m|\bppm\b|per min|/msg", SPAM, name="price")
link = regex_lf(r"www\.|https?:|\.com\b|\.co\.uk\b|\.net\b", SPAM, name="link")
opt_out = keyword_lf(
    ["stop", "unsubscribe", "opt out", "optout", "subscription", "subscriber", "unsub"],
    SPAM,
    name="opt_out",
)
phone_offer = keyword_lf(
    ["ringtone", "ringtones", "mobile", "nokia", "camera phone", "network", "tones"],
    SPAM,
    name="phone_offer",
)

# Ham: chat between people who know each other.
slang = keyword_lf(
    ["lol", "haha", "hahaha", "lor", "lar", "dunno", "wat", "hmm", "ok", "okay", "k"],
    HAM,
    name="slang",
)
plans = keyword_lf(
    ["tonight", "tomorrow", "later", "home", "dinner", "lunch", "sleep", "going"], HAM, name="plans"
)
polite = keyword_lf(
    ["sorry", "thanks", "thank you", "sure", "love you", "miss you"], HAM, name="polite"
)


@preprocessor()
def words(x):
    """The message's words, computed once for the LFs below."""
    return {"words": str(x.text).split()}


@labeling_function(pre=[words])
def short_message(x):
    """Messages of five words or fewer are replies between friends."""
    return HAM if len(x.words) <= 5 else ABSTAIN


@labeling_function(pre=[words])
def first_person(x):
    """Personal news ("i'm", "i'll", "i") without digits; spam talks about you and numbers."""
    personal = any(w in {"i", "i'm", "im", "i'll", "ill", "i've", "i'd"} for w in x.words)
    return HAM if personal and not any(c.isdigit() for c in x.text) else ABSTAIN
