"""Choose the understanding's decision settings from the numbers, not by hand.

Scores every question of the tuning set, the held-out set and the leave-one-out cross-validation
once, then replays the decision (answer / clarify / fallback) for a grid of answer_threshold,
clarify_threshold, margin and clear_lead, and prints the best settings by the worst of: held-out
accuracy per language, out-of-scope fallback rate, cross-validation accuracy per language.

    python bench/tune_understanding.py [--dir knowledge] [--top 10]

It only prints; copy the chosen values into knowledge/settings.yaml yourself.
"""
from __future__ import annotations

import argparse
import itertools
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bot.knowledge import LANGS, default_knowledge_dir, load_knowledge  # noqa: E402
from bot.staff_tools import counted_holdout, cv_expect  # noqa: E402
from bot.understanding import Understanding  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dir", type=Path, default=default_knowledge_dir())
    parser.add_argument("--top", type=int, default=10)
    parser.add_argument("--weights", default="", help="classifier weights to try, e.g. 0,25,50")
    parser.add_argument("--context", default="", help="context word weights to try, e.g. 0.4,1")
    args = parser.parse_args()
    knowledge = load_knowledge(args.dir)
    results = []
    for context in [float(c) for c in args.context.split(",") if c] or [None]:
        if context is not None:
            knowledge.settings.setdefault("understanding", {})["context_word_weight"] = context
        und = Understanding(knowledge)
        for weight in [float(w) for w in args.weights.split(",") if w] or [und.classifier_weight]:
            und.classifier_weight = weight
            und._scored.cache_clear()
            results += [(worst, {"ctx": und.context_floor, "W": weight / 100, **figures}, params)
                        for worst, figures, params in grid(knowledge, und)]
    results.sort(key=lambda r: (-r[0], -(r[1]["cv-sv"] + r[1]["cv-en"])))
    print("answer clarify margin lead | " + " ".join(f"{k:>10}" for k in results[0][1]))
    for worst, figures, params in results[:args.top]:
        print(f"{params[0]:>6} {params[1]:>7} {params[2]:>6} {params[3]:>4} | "
              + " ".join(f"{100 * v:>9.1f}%" for v in figures.values()))
    return 0


def grid(knowledge, und):
    rows = []  # (set, lang, expect, candidates, has domain words)
    holdout, _ = counted_holdout(knowledge)  # held-out questions worded as a phrasing do not count
    for name, cases in (("tuning", knowledge.eval_sets.tuning), ("holdout", holdout)):
        for case in cases:
            rows.append((name, case["lang"], case["expect"], tuple(und.score_all(case["text"], limit=3)),
                         und.has_domain_words(case["text"])))
    for index, entry, lang, text, classifier in und.left_out():
        rows.append(("cv", lang, cv_expect(entry),
                     tuple(und.score_all(text, limit=3, exclude=index, classifier=classifier)),
                     und.has_domain_words(text)))
    results = []
    for answer, clarify, margin, lead in itertools.product(range(40, 86, 2), range(20, 70, 4),
                                                           (0, 2, 4, 6, 8), (8, 12, 15, 20, 100)):
        if clarify >= answer:
            continue
        correct: dict[tuple[str, str], list[int]] = {}
        oos = [0, 0]
        for name, lang, expect, cands, domain in rows:
            match = und.decide("", cands, domain=domain, answer=answer, clarify=clarify, margin=margin, lead=lead)
            got = match.best.entry_id if match.outcome == "answer" else match.outcome
            tally = correct.setdefault((name, lang), [0, 0])
            tally[0] += got in expect
            tally[1] += 1
            if name == "holdout" and expect == ("fallback",):
                oos[0] += got == "fallback"
                oos[1] += 1
        acc = {key: c / t for key, (c, t) in correct.items()}
        figures = {f"{n}-{l}": acc.get((n, l), 1.0) for n in ("holdout", "cv", "tuning") for l in LANGS}
        figures["oos"] = oos[0] / oos[1] if oos[1] else 1.0
        worst = min(figures["holdout-sv"], figures["holdout-en"], figures["oos"])
        results.append((worst, figures, (answer, clarify, margin, lead)))
    return results


if __name__ == "__main__":
    raise SystemExit(main())
