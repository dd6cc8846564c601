"""The staff's tools for the knowledge files: check, try, eval and gaps.

Staff who do not program keep the answers right, so every tool prints whole sentences in Swedish
or English (`--lang`), names the file and line to change, and says how. The sentences live in
`knowledge/texts/staff.yaml`; `bot.knowledge_messages` turns the loader's English problems into
Swedish.

- `check`: every problem at once, plus phrasings that clash (`collision_problems`).
- `try`: what the bot would do with one question: the best three entries, the decision, the reply.
- `eval`: the tuning set, the held-out set (with out-of-scope precision) and a leave-one-out
  cross-validation over the FAQ phrasings -> accuracy per language, misses, confusions.
- `gaps`: what guardians asked that got the fallback or a clarification, masked and grouped.
"""
from __future__ import annotations

import asyncio
import json
import sys
from collections import Counter
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path

from rapidfuzz import fuzz

from bot.clock import make_clock, parse_now
from bot.collisions import collision_problems, phrasing_place
from bot.answering import alike_answer, replies_alike
from bot.engine import Engine
from bot.holder import KnowledgeHolder, knowledge_checks
from bot.knowledge import (
    LANGS, Entry, Knowledge, KnowledgeError, Problem, check_knowledge, default_knowledge_dir,
)
from bot.knowledge_messages import catalog
from bot.store.memory import MemoryStore
from bot.language import detect_language
from bot.understanding import STOPWORDS, Understanding, normalize
from common.messages import Inbound
from common.privacy import mask_contact
from flows.ports import Services
from flows.registry import all_flows

GAP_OUTCOMES = ("fallback", "clarify")
GROUP_SIMILARITY = 80  # rapidfuzz token_set_ratio of the meaningful words, 0-100
MAX_VARIANTS = 3
TRY_SESSION = "staff-try"


# Wiring into the CLI ---------------------------------------------------------------------------


def add_commands(knowledge_subparsers) -> None:
    """Add `knowledge try|eval|gaps` to the CLI (`check` is defined in bot/cli.py)."""
    tr = knowledge_subparsers.add_parser("try", help="what the bot would answer to one question")
    tr.add_argument("question")
    tr.add_argument("--lang", choices=LANGS, default=None,
                    help="the question's language (default: recognised from the words, else sv)")
    tr.add_argument("--now", help="the Stockholm time to answer at, e.g. 2026-12-24T10:00")
    tr.add_argument("--dir", type=Path, default=default_knowledge_dir())

    ev = knowledge_subparsers.add_parser("eval", help="accuracy on the labelled phrasings in knowledge/tests/")
    ev.add_argument("--dir", type=Path, default=default_knowledge_dir())
    ev.add_argument("--lang", choices=LANGS, default="en", help="language of the report")
    ev.add_argument("--show-held-out-misses", action="store_true",
                    help="list the held-out questions that were missed (to find general problems; "
                         "never copy them into phrasings)")

    gaps = knowledge_subparsers.add_parser("gaps", help="questions that got the fallback or a clarification")
    gaps.add_argument("--days", type=int, default=None,
                      help="how many days back (default: the retention period in settings.yaml)")
    gaps.add_argument("--data-dir", type=Path, default=Path("./var"), help="the server's --data-dir")
    gaps.add_argument("--dir", type=Path, default=default_knowledge_dir())
    gaps.add_argument("--now", help="count back from this Stockholm time instead of now")
    gaps.add_argument("--lang", choices=LANGS, default="en", help="language of the report")


def run_command(args) -> int:
    """Run `knowledge try|eval|gaps` (bot/cli.py routes here)."""
    command = getattr(args, "knowledge_command", None)
    if command == "check":
        return cmd_check(args)
    if command == "try":
        return cmd_try(args)
    if command == "eval":
        return cmd_eval(args)
    if command == "gaps":
        return cmd_gaps(args)
    print(f"error: unknown knowledge command {command!r}", file=sys.stderr)
    return 2


def extra_checks(flows) -> list:
    return knowledge_checks(flows) + [collision_problems]


# check -----------------------------------------------------------------------------------------


def check_lines(root: Path, lang: str, flows=None) -> tuple[list[str], list[Problem], Knowledge | None]:
    """Check `root` and return the printed lines (errors first), the problems and the knowledge."""
    cat = catalog(root)
    flows = flows if flows is not None else all_flows()
    knowledge, problems = check_knowledge(root, extra_checks=extra_checks(flows))
    problems = [p for p in problems if p.severity == "error"] + [p for p in problems if p.severity != "error"]
    return [cat.problem(p, lang) for p in problems], problems, knowledge


def cmd_check(args) -> int:
    """`knowledge check`: print every problem; exit 1 when any is an error (warnings exit 0)."""
    lang = getattr(args, "lang", None) or "en"
    cat = catalog(args.dir)
    lines, problems, knowledge = check_lines(args.dir, lang)
    for line in lines:
        print(line)
    errors = [p for p in problems if p.severity == "error"]
    if errors or knowledge is None:
        print(cat.text("staff.check.errors", lang, count=len(errors)), file=sys.stderr)
        return 1
    warnings = len(problems) - len(errors)
    key = "staff.check.ok_warnings" if warnings else "staff.check.ok"
    print(cat.text(key, lang, entries=len(knowledge.entries), texts=len(knowledge.texts), warnings=warnings),
          file=sys.stderr)
    return 0


def _load_or_report(root: Path, lang: str):
    """Return a KnowledgeHolder for `root`, or print why not and return None."""
    cat = catalog(root)
    try:
        return KnowledgeHolder(root, all_flows())
    except KnowledgeError as exc:
        for problem in exc.problems:
            print(cat.problem(problem, lang), file=sys.stderr)
        print(cat.text("staff.common.invalid", lang), file=sys.stderr)
        return None


# try -------------------------------------------------------------------------------------------


async def _one_turn(holder, text: str, lang: str, now: str | None):
    """Run one real turn of the engine (memory store, no backends) and return replies and state."""
    engine = Engine(source=holder, store=MemoryStore(), flows=holder.flows, clock=make_clock(now),
                    services=Services())
    return await engine.handle_turn(Inbound(session=TRY_SESSION, text=text, channel="web", lang_hint=lang))


def try_report(holder, question: str, lang: str | None = None, now: str | None = None) -> list[str]:
    """Return the lines `knowledge try` prints for `question`."""

    knowledge, understanding = holder.knowledge, holder.understanding
    lang = lang or detect_language(question) or "sv"
    cat = catalog(knowledge.root)
    out = [cat.text("staff.try.question", lang, text=question, lang=cat.text(f"staff.try.lang_{lang}", lang))]
    match = understanding.match(question)
    out.append(cat.text("staff.try.candidates", lang))
    scored = understanding.score_all(question, limit=3)
    if not scored:
        out.append("  " + cat.text("staff.try.no_candidates", lang))
    for n, cand in enumerate(scored, 1):
        entry = knowledge.entries[cand.entry_id]
        out.append("  " + cat.text("staff.try.candidate", lang, n=n, id=cand.entry_id, score=f"{cand.score:.1f}",
                                   phrasing=cand.phrasing, place=phrasing_place(entry, cand.lang, cand.phrasing)))
    replies, state = asyncio.run(_one_turn(holder, question, lang, now))
    outcome = state.last_outcome or match.outcome
    reply_lang = state.lang or lang
    thresholds = {"answer": f"{understanding.answer_threshold:g}", "clarify": f"{understanding.clarify_threshold:g}"}
    if outcome.startswith("cmd:"):
        out.append(cat.text("staff.try.outcome_command", lang, command=outcome[4:]))
    elif outcome in ("clarify", "fallback"):
        out.append(cat.text(f"staff.try.outcome_{outcome}", lang, **thresholds))
    else:
        same = match.outcome == "clarify"  # the likeliest entries all give the same reply
        out.append(cat.text("staff.try.outcome_same_reply" if same else "staff.try.outcome_answer", lang,
                            **thresholds))
        if outcome.startswith("flow:"):
            out.append(cat.text("staff.try.flow", lang, flow=outcome[5:]))
    out.append(cat.text("staff.try.reply", lang))
    n = 0
    for reply in replies:
        for text_line in reply.text.splitlines() or [""]:
            out.append("  " + text_line)
        for button in reply.buttons:
            n += 1
            out.append("    " + cat.text("staff.try.button", reply_lang, n=n, label=button.label))
    return out


def cmd_try(args) -> int:
    """`knowledge try "question"`: print the candidates, the decision and the reply."""
    lang_out = args.lang or "sv"
    if args.now:

        try:
            parse_now(args.now)
        except ValueError:
            print(catalog(args.dir).text("staff.common.bad_now", lang_out, value=args.now), file=sys.stderr)
            return 2
    holder = _load_or_report(args.dir, lang_out)
    if holder is None:
        return 1
    for line in try_report(holder, args.question, args.lang, args.now):
        print(line)
    return 0


# eval ------------------------------------------------------------------------------------------


@dataclass
class EvalResult:
    """How the matcher does on one set of labelled questions."""

    name: str  # "tuning" | "holdout" | "cross_validation"
    threshold: float
    total: Counter = field(default_factory=Counter)
    correct: Counter = field(default_factory=Counter)
    misses: list[dict] = field(default_factory=list)
    out_of_scope: Counter = field(default_factory=Counter)  # "total" / "fallback"
    out_of_scope_threshold: float | None = None
    identical: int = 0  # held-out questions left out: worded exactly as a phrasing
    same_reply: int = 0  # counted right: another entry matched, whose flow gives the same reply

    def accuracy(self, lang: str) -> float:
        return self.correct[lang] / self.total[lang] if self.total[lang] else 1.0

    @property
    def out_of_scope_rate(self) -> float:
        total = self.out_of_scope["total"]
        return self.out_of_scope["fallback"] / total if total else 1.0

    @property
    def failing(self) -> list[str]:
        below = [lang for lang in LANGS if self.total[lang] and self.accuracy(lang) < self.threshold]
        if (self.out_of_scope_threshold is not None and self.out_of_scope["total"]
                and self.out_of_scope_rate < self.out_of_scope_threshold):
            below.append("out-of-scope")
        return below

    def add(self, case: dict, got: str, best, same_reply: bool = False) -> None:
        expect = case["expect"]
        self.total[case["lang"]] += 1
        if expect == ("fallback",):
            self.out_of_scope["total"] += 1
            self.out_of_scope["fallback"] += got == "fallback"
        if got in expect or same_reply:
            self.correct[case["lang"]] += 1
            self.same_reply += got not in expect
        else:
            self.misses.append({**case, "got": got, "best": best})

    def confused(self, limit: int = 5) -> list[tuple[tuple[str, str], int]]:
        pairs = Counter(("/".join(m["expect"]), m["got"]) for m in self.misses)
        return sorted(pairs.items(), key=lambda kv: (-kv[1], kv[0]))[:limit]


# The day `knowledge eval` asks its questions on (a reply key may depend on it: "i morgon").
EVAL_DAY = date(2026, 12, 1)


def _decision(match, knowledge: Knowledge, flows: dict, case: dict) -> str:
    """The entry the bot answers with, else "clarify" or "fallback" — as the engine decides: a
    clarification between entries that all give the same reply is answered (bot.answering)."""
    if match.outcome == "clarify":
        alike = alike_answer(knowledge, flows, match, case["text"], case["lang"], EVAL_DAY)
        if alike is not None:
            return alike.id
    return match.best.entry_id if match.outcome == "answer" else match.outcome


def tuned_texts(knowledge: Knowledge) -> set[str]:
    """Every FAQ phrasing and tuning question, normalised."""
    texts = {normalize(p) for e in knowledge.entries.values() for ps in e.phrasings.values() for p in ps}
    return texts | {normalize(c["text"]) for c in knowledge.eval_sets.tuning}


def counted_holdout(knowledge: Knowledge) -> tuple[list[dict], int]:
    """The held-out questions that measure something unseen, and how many were left out for
    being worded exactly as a phrasing or a tuning question."""
    tuned = tuned_texts(knowledge)
    cases = [c for c in knowledge.eval_sets.holdout if normalize(c["text"]) not in tuned]
    return cases, len(knowledge.eval_sets.holdout) - len(cases)


def evaluate(knowledge: Knowledge, understanding: Understanding, name: str = "tuning") -> EvalResult:
    """Match every case of one set; the answer is the entry id, else "clarify" or "fallback".
    A held-out question worded exactly as a phrasing or a tuning question measures nothing
    unseen: it is left out and counted in `result.identical`."""
    thresholds = knowledge.eval_sets.thresholds
    cases = knowledge.eval_sets.holdout if name == "holdout" else knowledge.eval_sets.tuning
    result = EvalResult(name, thresholds[name],
                        out_of_scope_threshold=thresholds["out_of_scope"] if name == "holdout" else None)
    if name == "holdout":
        cases, result.identical = counted_holdout(knowledge)
    flows = all_flows()
    for case in cases:
        match = understanding.match(case["text"])
        got = _decision(match, knowledge, flows, case)
        result.add(case, got, match.best, same_reply=gives_same_reply(knowledge, flows, case, got))
    return result


def gives_same_reply(knowledge: Knowledge, flows: dict, case: dict, got: str) -> bool:
    """Whether the entry `got` answers `case` with the very reply an expected entry gives (both
    start the same one-shot flow with an equal `reply_key`: "open on Saturday?" gets Saturday's
    hours whichever of the hours entries matched)."""
    entry = knowledge.entries.get(got)
    if entry is None:
        return False
    return any(replies_alike(flows, [entry, knowledge.entries[expect]], case["text"], case["lang"], EVAL_DAY)
               for expect in case["expect"] if expect in knowledge.entries)


def cross_validate(knowledge: Knowledge, understanding: Understanding) -> EvalResult:
    """Take each FAQ phrasing out and match it against the rest: out of the word index one at a
    time (leave-one-out), and out of the classifier by folds (`Understanding.left_out`)."""
    result = EvalResult("cross_validation", knowledge.eval_sets.thresholds["cross_validation"])
    flows = all_flows()
    for index, entry, lang, text, classifier in understanding.left_out():
        match = understanding.match(text, exclude=index, classifier=classifier)
        case = {"text": text, "lang": lang, "expect": cv_expect(entry)}
        got = _decision(match, knowledge, flows, case)
        result.add(case, got, match.best, same_reply=gives_same_reply(knowledge, flows, case, got))
    return result


def cv_expect(entry: Entry) -> tuple[str, ...]:
    """What a phrasing of `entry` must get when it is matched against the others."""
    return ("fallback",) if entry.out_of_scope else (entry.id,)


def eval_report(knowledge: Knowledge, understanding: Understanding, lang: str,
                show_holdout: bool = False) -> tuple[list[str], list[EvalResult]]:
    """Return the lines `knowledge eval` prints and the results of every set."""
    cat = catalog(knowledge.root)
    if not knowledge.labelled and not knowledge.eval_sets.holdout:
        return [cat.text("staff.eval.no_cases", lang)], []
    results = [evaluate(knowledge, understanding, "tuning")]
    if knowledge.eval_sets.holdout:
        results.append(evaluate(knowledge, understanding, "holdout"))
    results.append(cross_validate(knowledge, understanding))
    out = []
    for result in results:
        if not sum(result.total.values()):
            continue
        out.append(cat.text(f"staff.eval.set_{result.name}", lang))
        for case_lang in LANGS:
            if result.total[case_lang]:
                out.append("  " + cat.text("staff.eval.accuracy", lang, lang=case_lang,
                                           correct=result.correct[case_lang], total=result.total[case_lang],
                                           percent=f"{100 * result.accuracy(case_lang):.1f}",
                                           threshold=f"{100 * result.threshold:g}"))
        if result.identical:
            out.append("  " + cat.text("staff.eval.identical", lang, count=result.identical))
        if result.same_reply:
            out.append("  " + cat.text("staff.eval.same_reply", lang, count=result.same_reply))
        if result.out_of_scope_threshold is not None and result.out_of_scope["total"]:
            out.append("  " + cat.text("staff.eval.out_of_scope", lang, correct=result.out_of_scope["fallback"],
                                       total=result.out_of_scope["total"],
                                       percent=f"{100 * result.out_of_scope_rate:.1f}",
                                       threshold=f"{100 * result.out_of_scope_threshold:g}"))
    for result in results:
        if not result.misses or (result.name == "holdout" and not show_holdout):
            continue
        out.append(cat.text(f"staff.eval.misses_{result.name}", lang))
        for miss in result.misses:
            best = miss["best"]
            shown = (cat.text("staff.eval.best", lang, id=best.entry_id, score=f"{best.score:.1f}")
                     if best is not None and miss["got"] != best.entry_id else "")
            place = f"{miss['path']}:{miss['line']}" if "path" in miss else miss["expect"][0]
            out.append("  " + cat.text("staff.eval.miss", lang, place=place, text=miss["text"],
                                       lang=miss["lang"], expect="/".join(miss["expect"]),
                                       got=miss["got"], best=shown).rstrip())
    for result in results:
        if result.misses:
            out.append(cat.text(f"staff.eval.confused_{result.name}", lang))
            for (expect, got), count in result.confused():
                out.append("  " + cat.text("staff.eval.pair", lang, count=count, expect=expect, got=got))
    failing = [f"{cat.text(f'staff.eval.name_{r.name}', lang)} {', '.join(r.failing)}"
               for r in results if r.failing]
    if failing:
        out.append(cat.text("staff.eval.below", lang, langs="; ".join(failing)))
    else:
        out.append(cat.text("staff.eval.ok", lang))
    return out, results


def cmd_eval(args) -> int:
    """`knowledge eval`: print accuracy per set and language; exit 1 under any threshold."""
    holder = _load_or_report(args.dir, args.lang)
    if holder is None:
        return 1
    lines, results = eval_report(holder.knowledge, holder.understanding, args.lang,
                                 show_holdout=args.show_held_out_misses)
    for line in lines:
        print(line)
    return 1 if any(r.failing for r in results) else 0


# gaps ------------------------------------------------------------------------------------------


@dataclass
class GapGroup:
    """Similar questions that got the fallback or a clarification."""

    key: str  # the meaningful words of the first (most frequent) question
    texts: Counter = field(default_factory=Counter)
    outcomes: Counter = field(default_factory=Counter)
    last: datetime | None = None  # when the latest of them was asked

    @property
    def count(self) -> int:
        return sum(self.texts.values())

    def add(self, other: "GapGroup") -> None:
        self.texts.update(other.texts)
        self.outcomes.update(other.outcomes)
        if other.last is not None and (self.last is None or other.last > self.last):
            self.last = other.last


# A guardian's question that got no answer: (text, "fallback" | "clarify", when).
GapQuestion = tuple[str, str, datetime]


def has_conversations(data_dir: Path) -> bool:
    """Say whether `data_dir` holds any stored conversation (a misspelt --data-dir holds none)."""
    root = Path(data_dir) / "sessions"
    if not root.is_dir():
        return False
    return any(shard.is_dir() and len(shard.name) == 2 and any(shard.glob("*.json")) for shard in root.iterdir())


def gap_questions_in(entries, since: datetime) -> list[GapQuestion]:
    """The guardian messages among transcript `entries` since `since` that got the fallback or a
    clarification."""
    found: list[GapQuestion] = []
    for entry in entries:
        if not isinstance(entry, dict) or entry.get("from") != "user" or entry.get("button"):
            continue
        if entry.get("outcome") not in GAP_OUTCOMES or not isinstance(entry.get("text"), str):
            continue
        try:
            at = datetime.fromisoformat(entry.get("at", ""))
        except (TypeError, ValueError):
            continue
        if at.tzinfo is None or at < since:
            continue
        found.append((entry["text"], entry["outcome"], at))
    return found


def read_gap_questions(data_dir: Path, since: datetime) -> list[GapQuestion]:
    """The unanswered questions since `since`, read straight from the conversation files
    (read-only: safe while `serve` runs, unlike opening the store, which tidies the folder; the
    last few seconds' turns may still be only in the store's journal)."""
    root = Path(data_dir) / "sessions"
    found: list[GapQuestion] = []
    if not root.is_dir():
        return found
    for shard in sorted(root.iterdir()):
        if not shard.is_dir() or len(shard.name) != 2:
            continue
        for path in sorted(shard.glob("*.json")):
            try:
                doc = json.loads(path.read_text(encoding="utf-8"))
                entries = (doc.get("transcript") or {}).values()
            except (OSError, ValueError, AttributeError):
                continue  # a file being replaced or damaged: the store deals with it
            found += gap_questions_in(entries, since)
    return found


async def store_gap_questions(store, since: datetime) -> list[GapQuestion]:
    """The unanswered questions since `since`, read through a live SessionStore (the embedded one
    with its journal, or Redis), as the running server sees them."""
    found: list[GapQuestion] = []
    for session in await store.sessions():
        conversation = await store.load(session)
        if conversation is not None:
            found += gap_questions_in(conversation.transcript, since)
    return found


def _meaningful(text: str) -> str:
    words = normalize(text).split()
    content = [w for w in words if w not in STOPWORDS]
    return " ".join(content or words)


def group_gaps(questions: list[GapQuestion]) -> list[GapGroup]:
    """Mask and group similar questions, most frequent first."""

    by_key: dict[str, GapGroup] = {}
    for text, outcome, at in questions:
        text = mask_contact(text).strip()
        if not text:
            continue
        key = _meaningful(text)
        group = by_key.setdefault(key, GapGroup(key))
        group.add(GapGroup(key, Counter([text]), Counter([outcome]), at))
    groups: list[GapGroup] = []
    for group in sorted(by_key.values(), key=lambda g: (-g.count, g.key)):
        home = next((g for g in groups if fuzz.token_set_ratio(g.key, group.key) >= GROUP_SIMILARITY), None)
        if home is None:
            groups.append(group)
        else:
            home.add(group)
    return sorted(groups, key=lambda g: (-g.count, g.key))


def gaps_report(groups: list[GapGroup], days: int, lang: str, root: Path | None = None) -> list[str]:
    """Return the lines `knowledge gaps` prints."""
    cat = catalog(root)
    if not groups:
        return [cat.text("staff.gaps.none", lang, days=days)]
    out = [cat.text("staff.gaps.header", lang, days=days, count=sum(g.count for g in groups), groups=len(groups))]
    for group in groups:
        texts = [t for t, _ in sorted(group.texts.items(), key=lambda kv: (-kv[1], kv[0]))]
        out.append("")
        out.append(cat.text("staff.gaps.group", lang, count=group.count, text=texts[0],
                            fallback=group.outcomes["fallback"], clarify=group.outcomes["clarify"]))
        for text in texts[1:1 + MAX_VARIANTS]:
            out.append("    " + cat.text("staff.gaps.variant", lang, text=text))
        if len(texts) > 1 + MAX_VARIANTS:
            out.append("    " + cat.text("staff.gaps.more", lang, count=len(texts) - 1 - MAX_VARIANTS))
    out.append("")
    out.append(cat.text("staff.gaps.hint", lang))
    return out


def cmd_gaps(args) -> int:
    """`knowledge gaps`: the unanswered questions of the retention window, masked and grouped."""

    cat = catalog(args.dir)
    if args.now:
        try:
            parse_now(args.now)
        except ValueError:
            print(cat.text("staff.common.bad_now", args.lang, value=args.now), file=sys.stderr)
            return 2
    days = args.days
    if days is None:
        knowledge, _ = check_knowledge(args.dir)
        settings = knowledge.settings if knowledge else {}
        days = int((settings.get("privacy") or {}).get("retention_days", 90))
    if days < 1:
        print(cat.text("staff.gaps.bad_days", args.lang), file=sys.stderr)
        return 2
    if not has_conversations(args.data_dir):
        print(cat.text("staff.gaps.no_conversations", args.lang, path=args.data_dir), file=sys.stderr)
        return 2
    now = make_clock(args.now)()
    questions = read_gap_questions(args.data_dir, now - timedelta(days=days))
    for line in gaps_report(group_gaps(questions), days, args.lang, args.dir):
        print(line)
    return 0
