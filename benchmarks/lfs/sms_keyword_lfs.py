"""One keyword LF per word for SMS spam (0 = ham, 1 = spam), written for benchmarks/label_models.py.

The style of WRENCH's 73 sms LFs (many narrow keyword LFs, each voting one class): 30 spam words
and 20 ham words, chosen in session 7 from what is generally known of SMS spam and chat, before
any score was computed; not revised after. Applied to the texts of each split.
"""

from gristmill import keyword_lf

HAM = 0
SPAM = 1

SPAM_WORDS = [
    "free", "win", "won", "winner", "prize", "cash", "claim", "award", "urgent", "txt",
    "reply", "stop", "mobile", "ringtone", "offer", "guaranteed", "selected", "voucher",
    "entry", "contact", "landline", "customer", "service", "call now", "per week", "www",
    "tone", "chat", "dating", "sexy",
]
HAM_WORDS = [
    "lol", "haha", "ok", "okay", "sorry", "thanks", "tonight", "tomorrow", "later", "home",
    "love you", "miss you", "dinner", "lunch", "sleep", "lor", "dunno", "going", "sure", "babe",
]

for _word in SPAM_WORDS:
    globals()[f"spam_{_word.replace(' ', '_')}"] = keyword_lf(
        _word, SPAM, name=f"spam_{_word.replace(' ', '_')}"
    )
for _word in HAM_WORDS:
    globals()[f"ham_{_word.replace(' ', '_')}"] = keyword_lf(
        _word, HAM, name=f"ham_{_word.replace(' ', '_')}"
    )
