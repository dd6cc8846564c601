"""common/text.py: `normalize` folds the same way for short (remembered) and long texts."""
from __future__ import annotations

from common.text import _CACHED_LENGTH, normalize


def test_short_and_long_texts_fold_alike_and_a_remembered_one_again_the_same():
    short = "Hur ansöker jag om konto i Skola 24? Mejl: ja, tel. nej"
    assert normalize(short) == "hur ansoker jag om konto i skola24 epost ja telefon nej"
    assert normalize(short) == normalize(short)  # the second one comes from the cache
    padding = "ord " * (_CACHED_LENGTH // 4 + 1)
    long = padding + short
    assert len(long) > _CACHED_LENGTH
    assert normalize(long) == normalize(padding) + " " + normalize(short)
