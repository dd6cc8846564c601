"""Understand a guardian's free text: normalise it, match it against the knowledge, decide.

Matching works on words. Every phrasing is normalised once at load (case, punctuation, å/ä/ö
folded, common spellings) and split into words; each word has a weight (rarer words across
entries weigh more; filler words like "hur", "jag", "the" weigh little). A query's words are
matched to the vocabulary with rapidfuzz (so "aktivra" still finds "aktivera"), and a phrasing's
score is the weighted F1 of how much of the query it explains and how much of the phrasing the
query covers. This is why "hur ansöker jag om bygglov" does not get the account answer: the
important word "bygglov" is explained by nothing, and why "ansöka" alone is too little.

Three outcomes: answer (best score at or above the answer threshold and clearly ahead),
clarify (the 2-3 best as buttons), fallback (what the bot can do, plus Halmstad direkt).
"""
from __future__ import annotations

import math
import re
from collections import defaultdict
from dataclasses import dataclass
from functools import lru_cache

import Stemmer
from rapidfuzz import fuzz, process
from scipy.sparse import hstack
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.svm import LinearSVC
from wordfreq import get_frequency_dict
import numpy as np

from bot.knowledge import LANGS, Knowledge

from common.text import _FOLD, _NON_WORD, normalize  # noqa: F401 (normalize is part of this API)

# Words that carry little meaning on their own; they still count, but little. Greetings and
# thanks are not among them: they are all the greeting and thanks entries have ("stort tack",
# "thanks a million" fell to the fallback), and where they open a question the question's own
# words outweigh them (cross-validation 92.1/89.8 -> 92.9/90.3, held-out unchanged).
STOPWORDS = frozenset("""
a an the i me my we our you your is are am be was do does did can could would should will to of in
on at for with and or if how what when where which who why it this that there here have has had
not no yes please just so about from by get got want need would like as
its im dont cant whats thats theres ive id youre isnt doesnt didnt wont or also some any
eller ocksa nagra alla ju val visst hos sig sin sitt sina dem deras hon han hennes hans blir bli
och att det som en ett jag du vi ni de den har hur vad nar var vilka vilken vilket kan ska skulle
vill maste for fran med om pa till av i ar mig dig oss er min mitt mina din ditt dina ert era
snalla inte ja nej nu sa da bara lite man nagon nagot finns gor gora fa far
""".split())
STOP_WEIGHT = 0.15
TOKEN_CUTOFF = 80  # rapidfuzz ratio at which a typed word counts as a known word
CV_FOLDS = 10  # the classifier's folds in cross-validation
CLARIFY_FLOOR = 35  # a candidate scoring less is not offered in a clarification
DOMAIN_FLOOR = 15  # ... unless the text has domain words: then the likeliest topics down to this
# Unexplained words cost by how common they are (wordfreq Zipf): Zipf >= RARITY_COMMON costs the
# floor, RARITY_SPAN below that the full weight of an unknown word.
RARITY_COMMON = 5.3
RARITY_SPAN = 2.3
RARITY_FLOOR = 0.08




@dataclass(frozen=True)
class Candidate:
    """An entry the text may mean, with its score (0-100) and the phrasing that matched best."""

    entry_id: str
    score: float
    lang: str
    phrasing: str


@dataclass(frozen=True)
class Match:
    """What the understanding decided for one text."""

    outcome: str  # "answer" | "clarify" | "fallback"
    candidates: tuple[Candidate, ...]

    @property
    def best(self) -> Candidate | None:
        return self.candidates[0] if self.candidates else None


@dataclass
class _Phrasing:
    entry_id: str
    lang: str
    text: str
    tokens: dict[int, float]  # vocabulary id -> weight
    total: float


@dataclass(frozen=True)
class _QueryWord:
    weight: float
    matches: tuple[tuple[int, float], ...]  # vocabulary ids the word may be, with similarity 0-1
    content: bool = True  # not a filler word: its phrasings are candidates
    cost: float = 0.0  # what the word costs a phrasing that does not explain it


_SENTENCE = re.compile(r"(?<=[.!?\n])\s+|\n+")
_STEMMERS = {"sv": Stemmer.Stemmer("swedish"), "en": Stemmer.Stemmer("english")}


@lru_cache(maxsize=1)
def _common_words() -> dict[str, float]:
    """Folded word -> its highest Zipf frequency in Swedish or English, for the words common
    enough to matter (wordfreq's frequency lists; rarer words count as rare)."""
    out: dict[str, float] = {}
    floor = 10 ** (RARITY_COMMON - RARITY_SPAN - 9)  # Zipf = log10(frequency per billion words)
    for lang in LANGS:
        for word, freq in get_frequency_dict(lang).items():
            if freq < floor:
                continue
            folded = word.translate(_FOLD)
            zipf = math.log10(freq) + 9
            if folded.isalpha() and zipf > out.get(folded, 0.0):
                out[folded] = zipf
    return out


def rarity(word: str) -> float:
    """How much an unexplained word says against a topic, 0-1: common words of the language
    ("väntat", "timme", "precis") little, rare content words ("bygglov") a lot."""
    zipf = _common_words().get(word)
    if zipf is None:
        return 1.0
    return min(1.0, max(RARITY_FLOOR, (RARITY_COMMON - zipf) / RARITY_SPAN))


@dataclass
class _LangIndex:
    members: np.ndarray  # phrasing indexes of this language
    position: dict[int, int]  # phrasing index -> position in `members`
    postings: dict[int, np.ndarray]  # vocabulary id -> positions of the phrasings that have it
    totals: np.ndarray  # each phrasing's total token weight


_SV_ENDINGS = ("erna", "arna", "orna", "en", "et", "er", "ar", "or", "n", "t")


class Lexicon:
    """Turns normalised text into the matcher's tokens: synonyms (knowledge/synonyms.yaml) become
    one word, words are stemmed (Snowball, per language), Swedish compounds split on known parts."""

    def __init__(self, groups: list[list[str]]) -> None:
        self.synonym: dict[str, str] = {}
        phrases: dict[str, str] = {}
        for group in groups:
            words = [normalize(w) for w in group if normalize(w)]
            if not words:
                continue
            canon = words[0].replace(" ", "")
            # Also the word as typed, before normalize() rewrites it ("mejl" -> "epost"), so its
            # inflections ("mejlet") find the group.
            words += [w for w in (" ".join(_NON_WORD.sub(" ", g.lower().translate(_FOLD)).split()) for g in group)
                      if w and " " not in w and w not in words]
            for word in words:
                if " " in word:
                    phrases[word] = canon
                else:
                    self.synonym[word] = canon
                    for lang in LANGS:
                        stem = _STEMMERS[lang].stemWord(word)
                        if len(stem) >= 5:  # "rättigheter" and "rätta" share the stem "ratt"
                            self.synonym.setdefault(stem, canon)
        self.phrase_re = (re.compile(r"\b(" + "|".join(sorted(map(re.escape, phrases), key=len, reverse=True))
                                     + r")\b") if phrases else None)
        self.phrases = phrases
        self._cache: dict[tuple[str, str], tuple[tuple[str, str], ...]] = {}

    def word(self, word: str, lang: str) -> str:
        found = self.synonym.get(word)
        if found:
            return found
        if lang == "sv":  # Snowball keeps "-et" ("mejlet", "kontot"): a synonym's inflections
            for ending in _SV_ENDINGS:
                if word.endswith(ending) and len(word) - len(ending) >= 3:
                    found = self.synonym.get(word[:-len(ending)])
                    if found:
                        return found
        if word.isdigit() or len(word) <= 3:
            return word
        stem = _STEMMERS[lang].stemWord(word)
        if stem in STOPWORDS and word not in STOPWORDS:
            return word  # "våren" must not become the filler word "var"
        return self.synonym.get(stem, stem)

    def analyse(self, norm: str, lang: str) -> tuple[tuple[str, str], ...]:
        """Return (token, surface word) pairs for a normalised text in `lang`."""
        key = (norm, lang)
        found = self._cache.get(key)
        if found is not None:
            return found
        if self.phrase_re is not None:
            norm = self.phrase_re.sub(lambda m: self.phrases[m.group(1)], norm)
        out = tuple((self.word(w, lang), w) for w in norm.split())
        if len(self._cache) > 20000:
            self._cache.clear()
        self._cache[key] = out
        return out


def _merged(*found: tuple[tuple[int, float], ...]) -> tuple[tuple[int, float], ...]:
    """Vocabulary matches from several lookups, each word at its best similarity, best first."""
    best: dict[int, float] = {}
    for matches in found:
        for vid, score in matches:
            best[vid] = max(best.get(vid, 0.0), score)
    return tuple(sorted(best.items(), key=lambda kv: -kv[1]))


def _char_grams(text: str) -> list[str]:
    """Character 2-5-grams within words, each word padded with a space on both sides."""
    grams = []
    for word in text.split():
        padded = f" {word} "
        size = len(padded)
        for n in range(2, 6):
            grams.extend(padded[i:i + n] for i in range(size - n + 1))
    return grams


def _identity(tokens: list[str]) -> list[str]:
    return tokens


class _Classifier:
    """A linear classifier trained at load from the FAQ phrasings: character n-grams (2-5, within
    words, so typos and inflections still share most features) and the matcher's tokens, one-vs-rest
    linear SVM (scikit-learn). Its decision values (about -1.5 to 1.5 per entry) are added to the
    lexical score: it ranks unseen wording better, and a text no entry claims gets negative values
    everywhere. Prediction is a sparse dot product done here (a tenth of the time of going through
    scikit-learn's vectorizers for one short text)."""

    def __init__(self, texts: list[str], token_lists: list[list[str]], labels: list[str]) -> None:
        chars = TfidfVectorizer(analyzer=_char_grams, sublinear_tf=True)
        words = TfidfVectorizer(analyzer=_identity, sublinear_tf=True)
        features = hstack([chars.fit_transform(texts), words.fit_transform(token_lists)]).tocsr()
        model = LinearSVC(C=0.5, random_state=0)
        model.fit(features, labels)
        coef = model.coef_.astype(np.float32)
        intercept = model.intercept_.astype(np.float32)
        classes = [str(c) for c in model.classes_]
        if len(classes) == 2:  # scikit-learn keeps one row for two classes: the second's side
            coef, intercept = np.vstack([-coef, coef]), np.concatenate([-intercept, intercept])
        split = len(chars.vocabulary_)
        self.classes = classes
        self.intercept = intercept
        self.parts = ((chars.vocabulary_, chars.idf_.astype(np.float32), np.ascontiguousarray(coef[:, :split].T)),
                      (words.vocabulary_, words.idf_.astype(np.float32), np.ascontiguousarray(coef[:, split:].T)))

    def decisions(self, norm: str, tokens: list[str]) -> dict[str, float]:
        total = self.intercept.copy()
        for (vocab, idf, weights), items in zip(self.parts, (_char_grams(norm), tokens)):
            counts: dict[int, int] = {}
            for item in items:
                column = vocab.get(item)
                if column is not None:
                    counts[column] = counts.get(column, 0) + 1
            if not counts:
                continue
            columns = np.fromiter(counts, dtype=np.int64, count=len(counts))
            values = (1.0 + np.log(np.fromiter(counts.values(), dtype=np.float32, count=len(counts)))) * idf[columns]
            values /= np.sqrt(np.dot(values, values))
            total += values @ weights[columns]
        return dict(zip(self.classes, total.tolist()))


class Understanding:
    """Matches texts against one loaded knowledge; build a new one when knowledge changes."""

    def __init__(self, knowledge: Knowledge, *, cache_size: int = 4096) -> None:
        self.knowledge = knowledge
        settings = knowledge.settings.get("understanding", {})
        self.answer_threshold = knowledge.answer_threshold
        self.clarify_threshold = knowledge.clarify_threshold
        self.margin = float(settings.get("margin", 4))
        self.lead = float(settings.get("clear_lead", 15))
        self.beta = float(settings.get("recall_weight", 1.0))
        self.classifier_weight = float(settings.get("classifier_weight", 50))
        self.context_floor = float(settings.get("context_word_weight", 1.0))
        synonyms = knowledge.synonyms
        self.lexicon = Lexicon(synonyms.get("groups", []))
        self.domain_words = frozenset(self.lexicon.word(normalize(w), lang)
                                      for w in synonyms.get("domain_words", []) for lang in LANGS
                                      if normalize(w))
        self._build([(e.id, lang, p) for e in knowledge.entries.values()
                     for lang in LANGS for p in e.phrasings.get(lang, [])])
        self._word_matches = lru_cache(maxsize=cache_size)(self._word_matches_uncached)
        self._surface_matches = lru_cache(maxsize=cache_size)(self._surface_matches_uncached)
        self.classifier = self.train([i for i in range(len(self.phrasings))])
        # Guardians ask the same questions in the same words all day: remember recent answers.
        self._scored = lru_cache(maxsize=cache_size)(self._score_text)

    # Building -------------------------------------------------------------------------------

    def _split(self, token: str, known) -> list[str] | None:
        """Split a compound ("aktiveringslank", "mobilapp") into two known parts, if it is one."""
        if len(token) < 7 or token.isdigit():
            return None
        for cut in range(len(token) - 3, 2, -1):
            head, tail = token[:cut], token[cut:]
            tail_token = self.lexicon.word(tail, "sv")
            if tail_token not in known and tail not in known:
                continue
            tail_token = tail_token if tail_token in known else tail
            for h in (head, head[:-1] if head.endswith("s") and len(head) > 4 else None):
                if h and len(h) >= 3:
                    head_token = self.lexicon.word(h, "sv")
                    if head_token in known:
                        return [head_token, tail_token]
                    if h in known:
                        return [h, tail_token]
        return None

    def _build(self, items: list[tuple[str, str, str]]) -> None:
        pairs = [self.lexicon.analyse(normalize(text), lang) for _, lang, text in items]
        analysed = [(entry_id, lang, text, [t for t, _ in found])
                    for (entry_id, lang, text), found in zip(items, pairs)]
        known = {t for *_, tokens in analysed for t in tokens}
        normalised = []
        entry_words: dict[str, set[str]] = defaultdict(set)
        vocab: dict[str, int] = {}
        for entry_id, lang, text, tokens in analysed:
            words: list[str] = []
            for t in tokens:
                parts = self._split(t, known - {t}) if lang == "sv" else None
                words.extend(parts or [t])
            normalised.append((entry_id, lang, text, words))
            entry_words[entry_id].update(words)
            for w in words:
                vocab.setdefault(w, len(vocab))
        n_entries = max(1, len(entry_words))
        doc_freq: dict[str, int] = defaultdict(int)
        for words in entry_words.values():
            for w in words:
                doc_freq[w] += 1
        self.vocab_words = list(vocab)
        # Typos are looked up among the vocabulary and the synonyms' own words, so a misspelt
        # member of a group ("thnaks" for "thanks" in the group named "tack") still finds it.
        self.spellings: dict[str, int] = dict(vocab)
        for surface, canon in self.lexicon.synonym.items():
            if canon in vocab and len(surface) > 3:
                self.spellings.setdefault(surface, vocab[canon])
        # ... and among the words as the phrasings spell them: a typo is closer to the word than
        # to its stem ("pohne" is 80 % "phone" but 75 % "phon"; "rniga" 80 % "ringa").
        self.spelling_words = list(self.spellings)
        self.surfaces: dict[str, int] = {}
        for found in pairs:
            for token, surface in found:
                if token in vocab and len(surface) > 3:
                    self.surfaces.setdefault(surface, vocab[token])
        self.surface_words = list(self.surfaces)
        self.vocab = vocab
        self.weight = [0.0] * len(vocab)
        for w, i in vocab.items():
            idf = math.log(1 + n_entries / doc_freq[w])
            self.weight[i] = idf * (STOP_WEIGHT if w in STOPWORDS else 1.0)
        self.unknown_weight = math.log(1 + n_entries)  # an unknown word is as rare as it gets
        self.phrasings: list[_Phrasing] = []
        self.postings: dict[int, list[int]] = defaultdict(list)  # vocabulary id -> phrasings
        for entry_id, lang, text, words in normalised:
            tokens = {vocab[w]: self.weight[vocab[w]] for w in words}
            index = len(self.phrasings)
            self.phrasings.append(_Phrasing(entry_id, lang, text, tokens, sum(tokens.values()) or 1.0))
            for vid in tokens:
                self.postings[vid].append(index)
        # The same index as arrays per language, for scoring a text against every phrasing at once.
        self.arrays: dict[str, _LangIndex] = {}
        for lang in LANGS:
            members = [i for i, ph in enumerate(self.phrasings) if ph.lang == lang]
            position = {i: n for n, i in enumerate(members)}
            postings = defaultdict(list)
            for n, i in enumerate(members):
                for vid in self.phrasings[i].tokens:
                    postings[vid].append(n)
            self.arrays[lang] = _LangIndex(
                np.array(members, dtype=np.int64), position,
                {vid: np.array(ns, dtype=np.int64) for vid, ns in postings.items()},
                np.array([self.phrasings[i].total for i in members], dtype=np.float64))

    def _tokens_by_lang(self, norm: str) -> dict[str, list[tuple[str, str]]]:
        """The text's (token, surface word) pairs read as each language."""
        return {lang: self._query_tokens(norm, lang) for lang in LANGS}

    @staticmethod
    def _classifier_tokens(tokens: dict[str, list[tuple[str, str]]]) -> list[str]:
        return [t for lang in LANGS for t, _ in tokens[lang]]

    def train(self, indexes: list[int]) -> _Classifier | None:
        """Train the classifier on the phrasings at `indexes` (None when fewer than two entries)."""
        labels = [self.phrasings[i].entry_id for i in indexes]
        if self.classifier_weight <= 0 or len(set(labels)) < 2:
            return None
        texts = [normalize(self.phrasings[i].text) for i in indexes]
        return _Classifier(texts, [self._classifier_tokens(self._tokens_by_lang(t)) for t in texts], labels)

    def _word_matches_uncached(self, word: str) -> tuple[tuple[int, float], ...]:
        """Return the vocabulary words `word` may be, with similarity 0-1."""
        exact = self.vocab.get(word)
        if len(word) <= 3 or word.isdigit():
            return ((exact, 1.0),) if exact is not None else ()
        out = self._similar(word, self.spelling_words, self.spellings)
        if exact is not None:
            out[exact] = 1.0
        return tuple(sorted(out.items(), key=lambda kv: -kv[1]))

    def _surface_matches_uncached(self, word: str) -> tuple[tuple[int, float], ...]:
        """The vocabulary words a typed word that is no known token may be, found among the
        words as the phrasings spell them (a typo is nearer "phone" than its stem "phon")."""
        if len(word) <= 3 or word.isdigit():
            return ()
        return tuple(sorted(self._similar(word, self.surface_words, self.surfaces).items(), key=lambda kv: -kv[1]))

    @staticmethod
    def _similar(word: str, choices: list[str], ids: dict[str, int]) -> dict[int, float]:
        out: dict[int, float] = {}
        for w, score, _ in process.extract(word, choices, scorer=fuzz.ratio, score_cutoff=TOKEN_CUTOFF, limit=5):
            vid = ids[w]
            out[vid] = max(out.get(vid, 0.0), score / 100.0)
        return out

    # Matching -------------------------------------------------------------------------------

    def phrasing_list(self) -> list[tuple[str, str, str]]:
        """Every indexed phrasing as (entry id, language, text), in index order."""
        return [(p.entry_id, p.lang, p.text) for p in self.phrasings]

    def tokens(self, text: str, lang: str) -> list[str]:
        """The matcher's tokens for `text` read as `lang` (for staff tools and tests)."""
        return [t for t, _ in self._query_tokens(normalize(text), lang)]

    def _query_tokens(self, norm: str, lang: str) -> list[tuple[str, str]]:
        out: list[tuple[str, str]] = []
        for token, surface in self.lexicon.analyse(norm, lang):
            if token not in self.vocab and lang == "sv":
                parts = self._split(token, self.vocab)
                if parts:
                    out.extend((p, p) for p in parts)
                    continue
            out.append((token, surface))
        return out

    def _query(self, tokens: list[tuple[str, str]], exclude: int | None) -> list[_QueryWord]:
        query: list[_QueryWord] = []
        for token, surface in dict.fromkeys(tokens[:40]):
            if len(token) == 1 and not token.isdigit():
                continue  # stray letters carry no meaning
            matches = self._word_matches(token)
            if token not in self.vocab and surface != token and surface not in _common_words():
                # A word of the language that no phrasing has ("abroad") is no typo of one ("road").
                matches = _merged(matches, self._surface_matches(surface))
            if exclude is not None:  # cross-validation: a word only the left-out phrasing has is unknown
                matches = tuple((vid, s) for vid, s in matches if self.postings[vid] != [exclude])
            exact = self.vocab.get(token)
            if exact is not None and matches and matches[0][0] == exact:
                weight = self.weight[exact]  # a known word weighs what it weighs, not its look-alikes
            elif token in STOPWORDS or surface in STOPWORDS:
                weight = STOP_WEIGHT
            elif matches:
                weight = self.weight[matches[0][0]]
            else:
                weight = self.unknown_weight * rarity(surface)
            content = token not in STOPWORDS and surface not in STOPWORDS
            # Unexplained, a known but everyday word ("istället", "name") costs what it is worth in
            # the language, not its weight among the entries.
            cost = weight * max(self.context_floor, rarity(surface)) if content and exact is not None else weight
            query.append(_QueryWord(weight, matches, content, cost))
        return query

    def score_all(self, text: str, limit: int = 3, exclude: int | None = None,
                  classifier: _Classifier | None = None) -> list[Candidate]:
        """Return the best `limit` entries for `text`, best first. Cross-validation passes the
        phrasing to leave out (`exclude`) and a classifier trained without it."""
        if exclude is not None:
            return list(self._score_text(text[:600], exclude, classifier)[:limit])
        return list(self._scored(text[:600])[:limit])

    def _score_text(self, text: str, exclude: int | None = None,
                    classifier: _Classifier | None = None) -> tuple[Candidate, ...]:
        """Score the whole text and, for a message of several sentences, each sentence alone (a
        request at the end of a long message counts as much as a message of its own)."""
        best: dict[str, Candidate] = {}
        parts = [normalize(text)]
        sentences = [n for n in map(normalize, _SENTENCE.split(text)) if len(n.split()) >= 2]
        if len(sentences) > 1:
            parts += sentences[:6]
        classifier = classifier if exclude is not None else self.classifier
        for norm in parts:
            if not norm:
                continue
            tokens = self._tokens_by_lang(norm)
            lexical = self._score_normalized(tokens, exclude)
            for cand in self._combine(norm, tokens, lexical, classifier):
                current = best.get(cand.entry_id)
                if current is None or cand.score > current.score:
                    best[cand.entry_id] = cand
        return tuple(sorted(best.values(), key=lambda c: (-c.score, c.entry_id))[:5])

    def _combine(self, norm: str, tokens: dict[str, list[tuple[str, str]]], lexical: list[Candidate],
                 classifier: _Classifier | None) -> list[Candidate]:
        """Add the classifier's decision values to the lexical scores (0-100)."""
        if classifier is None:
            return lexical
        decisions = classifier.decisions(norm, self._classifier_tokens(tokens))
        by_id = {c.entry_id: c for c in lexical}
        ranked = sorted(decisions, key=decisions.get, reverse=True)[:3]
        out = []
        for entry_id in dict.fromkeys([c.entry_id for c in lexical] + ranked):
            lex = by_id.get(entry_id)
            base = lex.score if lex else 0.0
            value = decisions.get(entry_id, -1.0)
            score = base + self.classifier_weight * value
            score = round(min(100.0, max(0.0, score)), 1)
            if score > 0:
                out.append(Candidate(entry_id, score, lex.lang if lex else "", lex.phrasing if lex else ""))
        return sorted(out, key=lambda c: (-c.score, c.entry_id))[:5]

    def _score_normalized(self, tokens: dict[str, list[tuple[str, str]]],
                          exclude: int | None = None) -> list[Candidate]:
        """Score every phrasing that shares a content word with the text: a weighted F-score of
        how much of the text the phrasing explains (precision; an unexplained word costs its
        `cost`) and how much of the phrasing the text covers (recall). Word by word over the
        index, with arrays, so a long text against thousands of phrasings stays fast."""
        beta2 = self.beta * self.beta
        best: dict[str, Candidate] = {}
        for lang in LANGS:
            index = self.arrays[lang]
            size = len(index.members)
            query = self._query(tokens[lang], exclude)
            if not size or not query:
                continue
            explained = np.zeros(size)
            total = np.full(size, sum(w.cost for w in query))
            reached = np.zeros(size, dtype=bool)
            anything = not any(w.content for w in query)  # only filler words: every phrasing counts
            covered: dict[int, float] = {}
            for word in query:
                sims = None
                for vid, sim in word.matches:
                    where = index.postings.get(vid)
                    if where is None:
                        continue
                    if sims is None:
                        sims = np.zeros(size)
                    np.maximum.at(sims, where, sim)
                    covered[vid] = max(sim, covered.get(vid, 0.0))
                    if word.content or anything:
                        reached[where] = True
                if sims is not None:
                    explained += word.weight * sims
                    total += (word.weight - word.cost) * sims
            recalled = np.zeros(size)
            for vid, sim in covered.items():
                recalled[index.postings[vid]] += self.weight[vid] * sim
            if exclude is not None and exclude in index.position:
                reached[index.position[exclude]] = False
            reached &= (explained > 0) & (recalled > 0)
            if not reached.any():
                continue
            precision = explained / np.where(total > 0, total, 1.0)
            recall = recalled / index.totals
            with np.errstate(divide="ignore", invalid="ignore"):
                scores = np.where(reached, 100.0 * (1 + beta2) * precision * recall / (beta2 * precision + recall), -1.0)
            for n in np.argsort(-scores, kind="stable")[:200]:
                score = float(scores[n])
                if score < 0:
                    break
                ph = self.phrasings[int(index.members[n])]
                current = best.get(ph.entry_id)
                if current is None or score > current.score:
                    best[ph.entry_id] = Candidate(ph.entry_id, round(score, 1), ph.lang, ph.text)
        return sorted(best.values(), key=lambda c: (-c.score, c.entry_id))[:5]

    def has_domain_words(self, text: str) -> bool:
        """True when the text names something the assistant is about (konto, app, frånvaro …)."""
        tokens = self._tokens_by_lang(normalize(text))
        return any(t in self.domain_words for pairs in tokens.values() for t, _ in pairs)

    def match(self, text: str, exclude: int | None = None, classifier: _Classifier | None = None) -> Match:
        """Decide between answer, clarify and fallback for `text` (`exclude`: a phrasing index
        left out, for cross-validation, with a `classifier` trained without it)."""
        candidates = tuple(self.score_all(text, limit=3, exclude=exclude, classifier=classifier))
        return self.decide(text, candidates)

    def decide(self, text: str, candidates: tuple[Candidate, ...], *, domain: bool | None = None,
               **policy: float) -> Match:
        """The policy of the three outcomes, for candidates already scored. A text closest to an
        out-of-scope entry (knowledge/faq/out_of_scope.yaml) gets the fallback. `domain` (whether
        the text has domain words) and the thresholds in `policy` (answer, clarify, margin, lead)
        may be given, so bench/tune_understanding.py replays this very decision over a grid."""
        entries = self.knowledge.entries
        inside = tuple(c for c in candidates if not entries[c.entry_id].out_of_scope)
        if candidates and candidates[0] not in inside:
            return Match("fallback", inside)
        answer = policy.get("answer", self.answer_threshold)
        clarify = policy.get("clarify", self.clarify_threshold)
        margin = policy.get("margin", self.margin)
        lead = policy.get("lead", self.lead)
        top = inside[0] if inside else None
        runner_up = inside[1].score if len(inside) > 1 else 0.0
        if top is None or top.score < clarify:
            # Clear domain words never get the generic "can't answer": answer the likeliest topic
            # when it is far ahead of the next (as above the threshold), else offer the likeliest.
            if top is None or top.score < DOMAIN_FLOOR or not (
                    self.has_domain_words(text) if domain is None else domain):
                return Match("fallback", inside)
            if top.score - runner_up >= lead:
                return Match("answer", inside)
            if runner_up >= DOMAIN_FLOOR:
                return Match("clarify", inside[:3])
            return Match("fallback", inside)
        if top.score >= answer and (top.score - runner_up >= margin or top.score >= 99):
            return Match("answer", inside)
        if top.score - runner_up >= lead:
            return Match("answer", inside)  # one candidate far ahead: answer it
        return Match("clarify", tuple(c for c in inside if c.score >= CLARIFY_FLOOR))

    def left_out(self, folds: int = CV_FOLDS):
        """For cross-validation: yield (index, entry, lang, text, classifier) for every phrasing
        of an entry with at least two in its language, the classifier trained without its fold
        (a tenth; retraining for every phrasing would take minutes). Score it with
        `exclude=index` so the word index leaves it out too."""
        phrasings = self.phrasing_list()
        for fold in range(folds):
            classifier = self.train([i for i in range(len(phrasings)) if i % folds != fold])
            for index in range(fold, len(phrasings), folds):
                entry_id, lang, text = phrasings[index]
                entry = self.knowledge.entries[entry_id]
                if len(entry.phrasings.get(lang, ())) >= 2:
                    yield index, entry, lang, text, classifier
