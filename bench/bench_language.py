"""Accuracy and speed of the reply-language decision on tests/data/language_cases.yaml.

    python bench/bench_language.py [--repeat 20]

Compares, each deciding "the reply language of this message, given the conversation's":
- today: the word-list detector of bot/understanding.py before #12 (copied here), then the language
  (the language of the best FAQ match), else the conversation's language (the engine before #12);
- lingua (low / high accuracy mode, sv/en only): its top language when its confidence is at least
  --lingua-min, else the conversation's language;
- combined: bot/language.py (lingua low mode + common words + names left out + the prior).
A case with `lang` only is tried with the conversation in Swedish and in English; a case with
`prior` only with that language. Prints accuracy overall and per kind, and µs per message.
--holdout uses tests/data/language_holdout.yaml instead, written after the weights were set.
"""
from __future__ import annotations

import argparse
import resource
import sys
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

CASES = ROOT / "tests" / "data" / "language_cases.yaml"
HOLDOUT = ROOT / "tests" / "data" / "language_holdout.yaml"


def load_trials(path: Path = CASES) -> list[tuple[str, str, str, str]]:
    """Return (text, prior, expected, kind) for every trial of every case."""
    trials = []
    for case in yaml.safe_load(path.read_text(encoding="utf-8"))["cases"]:
        if "prior" in case:
            trials.append((case["text"], case["prior"], case["lang"], "keeps the prior"))
        else:
            for prior in ("sv", "en"):
                trials.append((case["text"], prior, case["lang"], f"clearly {case['lang']}"))
    return trials


# The word lists of the detector before #12 (bot/understanding.py at 535dbd2), kept as the baseline.
_OLD_SV = frozenset("""och att jag hur vad nar ar har inte kan min mitt mina ni er ert
vill med for pa till det som en ett nagon dotter son barn skolan appen frånvaro franvaro tack hej
ansoka ansoker konto oppet oppna telefonnummer prata manniska uppgifter radera hjalp glomt losenord
""".split())
_OLD_EN = frozenset("""the and is are how what when where my your you i can do does want need to
of for with have has not please thanks hello hi account app open opening hours phone number talk
person human data delete forgot password daughter son child school apply activate
""".split())


def today_decider():
    from bot.knowledge import default_knowledge_dir, load_knowledge
    from bot.understanding import Understanding, normalize

    understanding = Understanding(load_knowledge(default_knowledge_dir()))

    def old_detect(text: str) -> str | None:
        if any(ch in text.lower() for ch in "åäö"):
            return "sv"
        words = normalize(text).split()
        sv, en = sum(w in _OLD_SV for w in words), sum(w in _OLD_EN for w in words)
        return "sv" if sv > en else "en" if en > sv else None

    def best_match_language(text: str) -> str | None:
        if len(normalize(text).split()) < 3:
            return None
        best = understanding.score_all(text, limit=1)
        return best[0].lang if best and best[0].score >= understanding.answer_threshold else None

    def decide(text: str, prior: str) -> str:
        return old_detect(text) or best_match_language(text) or prior
    return decide


def lingua_decider(high: bool, minimum: float):
    from lingua import Language, LanguageDetectorBuilder

    builder = LanguageDetectorBuilder.from_languages(Language.SWEDISH, Language.ENGLISH)
    if not high:
        builder = builder.with_low_accuracy_mode()
    detector = builder.with_preloaded_language_models().build()
    codes = {Language.SWEDISH: "sv", Language.ENGLISH: "en"}

    def decide(text: str, prior: str) -> str:
        values = detector.compute_language_confidence_values(text)
        if values and values[0].value >= minimum:
            return codes[values[0].language]
        return prior
    return decide


def combined_decider():
    from bot.language import choose_language
    return choose_language


def measure(name: str, decide, trials, repeat: int, show_misses: bool) -> None:
    misses = []
    by_kind: dict[str, list[int]] = {}
    for text, prior, expected, kind in trials:
        got = decide(text, prior)
        ok = got == expected
        by_kind.setdefault(kind, [0, 0])
        by_kind[kind][0] += ok
        by_kind[kind][1] += 1
        if not ok:
            misses.append((text, prior, expected, got))
    start = time.perf_counter()
    for _ in range(repeat):
        for text, prior, _, _ in trials:
            decide(text, prior)
    per_message = (time.perf_counter() - start) / (repeat * len(trials)) * 1e6
    right = len(trials) - len(misses)
    kinds = ", ".join(f"{k} {v[0]}/{v[1]}" for k, v in sorted(by_kind.items()))
    print(f"{name:<28} {right}/{len(trials)} = {100 * right / len(trials):5.1f} %   "
          f"{per_message:7.1f} µs/message   ({kinds})")
    if show_misses:
        for text, prior, expected, got in misses:
            print(f"    miss: {text!r} (conversation {prior}) -> {got}, expected {expected}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--lingua-min", type=float, default=0.7)
    parser.add_argument("--misses", action="store_true", help="list the messages each one gets wrong")
    parser.add_argument("--holdout", action="store_true",
                        help=f"use {HOLDOUT.relative_to(ROOT)} (not tuned on) instead of the tuning set")
    args = parser.parse_args()
    path = HOLDOUT if args.holdout else CASES
    trials = load_trials(path)
    print(f"{len(trials)} trials from {len(yaml.safe_load(path.read_text(encoding='utf-8'))['cases'])} "
          f"messages ({path.relative_to(ROOT)})")
    measure("today (word lists + match)", today_decider(), trials, args.repeat, args.misses)
    for high in (False, True):
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        start = time.perf_counter()
        decide = lingua_decider(high, args.lingua_min)
        built = time.perf_counter() - start
        grown = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
        mode = "high" if high else "low"
        print(f"  lingua {mode} accuracy mode: built in {built * 1000:.0f} ms, peak memory +{grown:.0f} MB")
        measure(f"lingua {mode} (>= {args.lingua_min})", decide, trials, args.repeat, args.misses)
    start = time.perf_counter()
    decide = combined_decider()
    print(f"  bot.language imported in {(time.perf_counter() - start) * 1000:.0f} ms")
    measure("combined (bot/language.py)", decide, trials, args.repeat, args.misses)
    from bot.language import LanguageDecider, build_lingua
    measure("combined, lingua high mode", LanguageDecider(build_lingua(high_accuracy=True)).choose, trials,
            args.repeat, args.misses)


if __name__ == "__main__":
    main()
