"""One keyword LF per word for YouTube comment spam (0 = ham, 1 = spam), for label_models.py.

Many narrow keyword LFs, each voting one class: 22 words of self-promotion and 22 of comments
about the music, chosen in session 7 from what is generally known of comment spam, before any
score was computed; not revised after. Applied to the texts of WRENCH's youtube splits.
"""

from gristmill import keyword_lf

HAM = 0
SPAM = 1

SPAM_WORDS = [
    "subscribe", "channel", "check out", "my", "please", "free", "money", "click", "http",
    "www", "follow", "views", "share", "website", "win", "download", "visit", "promo", "gift",
    "earn", "youtube.com", "facebook",
]
HAM_WORDS = [
    "song", "love", "best", "beautiful", "voice", "dance", "music", "lyrics", "amazing",
    "favorite", "listening", "2015", "2014", "billion", "still", "remember", "years", "shakira",
    "eminem", "katy", "psy", "lmfao",
]

for _word in SPAM_WORDS:
    _name = "spam_" + _word.replace(" ", "_").replace(".", "_")
    globals()[_name] = keyword_lf(_word, SPAM, name=_name)
for _word in HAM_WORDS:
    _name = "ham_" + _word.replace(" ", "_")
    globals()[_name] = keyword_lf(_word, HAM, name=_name)
