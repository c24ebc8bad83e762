"""Check every answer sentence against the passages before a reader sees it.

Language models write plausible sentences and put the wrong numbers in brackets, so the
product never trusts a model's citations as given. For each sentence the verifier:

1. reads its facts — dates, times, numbers, names — normalised across English and French
   ("5 February 2026" ↔ "5 février 2026", "Putin" ↔ "Poutine", "five" ↔ "cinq");
2. keeps the passages with one sentence holding all of them itself (the article's date
   may lend a year; a name only in the title does not count);
3. among those sentences, picks the one semantically closest to the answer sentence
   (multilingual embeddings), if close enough;
4. cites its passage, quoting that sentence. The model's own ``[n]`` is only a tie-break
   hint. A sentence no passage supports is dropped and counted;
5. shows the model's sentence only when it says what that **one** source sentence says:
   their facts match both ways (:func:`mismatches`) — a name or date of the source
   sentence the model left out disqualifies it as surely as one it added, since true
   facts recombined (the wrong person given a role, a date from a neighbouring clause)
   pass a one-way check — and, in the sentence's own language, when every content word
   of it is the source sentence's (or the question's: an added clause without facts, "a
   duré une heure", is a claim the source does not make); in another language, when it is
   at least ``min_restatement`` close (a name's role swapped keeps the facts). Otherwise
   the verbatim quote alone is shown in its place;
6. refuses, first of all, a sentence that says nothing the question does not: a question
   itself, or one whose facts and content words are all the question's (the question
   turned into a statement is "supported" by the very passage it asks about).

>>> facts = extract_facts("New START was extended on January 29, 2021 for five years.")
>>> sorted(facts.dates), sorted(facts.numbers), sorted(facts.names)
([(29, 1, 2021)], ['5'], ['new', 'start'])
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from rag.answer.citations import Claim, cited
from rag.lang import (
    ALIASES,
    NOT_NAMES,
    NUMBER_WORDS,
    OPENER_ENDINGS,
    REVERSE_ALIASES,
    content_terms,
    detect_language,
)
from rag.lang.dates import DAY_MONTH_RE, MONTH_DAY_RE, MONTH_DAY_SHORT_RE, MONTH_NUM, YEAR_RE
from rag.lang.patterns import DIGITS_RE, NUMBER_WORD_RE, ROMAN_RE, TIME_RE, VAGUE_NUMBER_WORDS, roman_value
from rag.models.embedding import Embedder
from rag.settings import ReaderConfig
from rag.store.index_store import IndexStore
from rag.text import fold
from rag.types import Document, Passage


@dataclass(frozen=True)
class Facts:
    """What a sentence asserts that can be checked word for word."""

    dates: frozenset[tuple[int | None, int, int | None]] = frozenset()  # (day, month, year)
    years: frozenset[int] = frozenset()
    times: frozenset[int] = frozenset()                              # minutes after midnight
    numbers: frozenset[str] = frozenset()
    names: frozenset[str] = frozenset()

    def __bool__(self) -> bool:
        return bool(self.dates or self.years or self.times or self.numbers or self.names)


def extract_facts(text: str) -> Facts:
    """Dates, years, times, numbers and names of an answer sentence (folded)."""
    dates: set[tuple[int | None, int, int | None]] = set()
    spans: list[tuple[int, int]] = []
    for m in DAY_MONTH_RE.finditer(text):
        d, mon, y = m.groups()
        dates.add((int(d), MONTH_NUM[mon.lower()], int(y) if y else None))
        spans.append(m.span())
    for m in MONTH_DAY_RE.finditer(text):
        if any(a < m.end() and m.start() < b for a, b in spans):
            continue  # "16 juin 2021": one date, not also "juin 2021"
        mon, d, y = m.groups()
        dates.add((int(d) if d else None, MONTH_NUM[mon.lower()], int(y)))
        spans.append(m.span())
    for m in MONTH_DAY_SHORT_RE.finditer(text):  # "January 31": English, year left out
        if any(a < m.end() and m.start() < b for a, b in spans):
            continue
        mon, d = m.groups()
        dates.add((int(d), MONTH_NUM[mon.lower()], None))
        spans.append(m.span())
    rest = _blank(text, spans)
    times = set()
    for m in TIME_RE.finditer(rest):
        h, mi, ampm = int(m.group(1)), int(m.group(2)), (m.group(3) or "").lower()
        if ampm.startswith("p") and h < 12:
            h += 12
        times.add(h * 60 + mi)
    rest = TIME_RE.sub(" ", rest)
    years = {int(y) for y in YEAR_RE.findall(rest)}
    rest = YEAR_RE.sub(" ", rest)
    numbers = {str(int(n)) for n in DIGITS_RE.findall(rest)}
    romans = [(m.span(m.lastindex or 0), roman_value(m.group(m.lastindex or 0))) for m in ROMAN_RE.finditer(text)]
    numbers |= {str(v) for _, v in romans if v}
    text = _blank(text, [span for span, v in romans if v])  # "XIe" is a number, not a name
    numbers |= {str(NUMBER_WORDS[w]) for w in NUMBER_WORD_RE.findall(fold(rest))
                if w not in VAGUE_NUMBER_WORDS}
    return Facts(frozenset(dates), frozenset(years), frozenset(times), frozenset(numbers),
                 frozenset(_names(text)))


def _blank(text: str, spans: list[tuple[int, int]]) -> str:
    chars = list(text)
    for a, b in spans:
        chars[a:b] = " " * (b - a)
    return "".join(chars)


_CAPITALISED = re.compile(r"\b[A-ZÀ-Þ][\w’'-]*")
# A word opens a sentence when the text starts, or . ! ? : ; ends one, before it; spaces,
# opening quotes, brackets and dashes between do not count (looked at over 12 characters).
_BEFORE_OPENING = re.compile(r"(?:^|[.!?:;])[\s«»\"“”‘(\[—–-]*$")

_ELISION = re.compile(r"^(?:[cldjmnst]|qu|jusqu|lorsqu|puisqu)['’]")


def _opens_sentence(text: str, at: int) -> bool:
    return bool(_BEFORE_OPENING.search(text[max(0, at - 12):at]))


def _names(text: str) -> set[str]:
    """Capitalised words and acronyms that carry meaning, folded. A participle capitalised
    because it opens a sentence ("Referring to…", "Évoquant…": :data:`OPENER_ENDINGS`) is
    not a name, unless it is a known one (:data:`ALIASES`) or is capitalised inside a
    sentence too; an elided article is dropped ("L'Ukraine" → "ukraine")."""
    found = []
    for m in _CAPITALISED.finditer(text):
        word = _ELISION.sub("", fold(m.group()).strip("'’-"))
        word = re.sub(r"['’](s)?$", "", word)
        found.append((word, _opens_sentence(text, m.start())))
    inside = {w for w, opens in found if not opens}
    out: set[str] = set()
    for word, opens in found:
        if (opens and len(word) >= 6 and word.endswith(OPENER_ENDINGS) and word not in inside
                and word not in ALIASES and word not in REVERSE_ALIASES):
            continue
        parts = [word] if word in ALIASES else word.split("-")  # "Putin-Biden": two names
        out.update(w for w in parts if len(w) >= 2 and w not in NOT_NAMES)
    return out


@dataclass
class PassageFacts:
    """The facts a passage (with its article's date and title) can support."""

    text: str
    dates: set[tuple[int | None, int, int | None]] = field(default_factory=set)
    years: set[int] = field(default_factory=set)
    times: set[int] = field(default_factory=set)
    numbers: set[str] = field(default_factory=set)
    words: set[str] = field(default_factory=set)

    @classmethod
    def of(cls, passage: Passage) -> PassageFacts:
        return cls.of_text(passage.text, passage.document)

    @classmethod
    def of_text(cls, span: str, doc: Document, with_title: bool = True) -> PassageFacts:
        """The facts of ``span`` (a passage or one sentence) of ``doc``, with the article's
        date as context, and its title and outlet too unless ``with_title`` is false."""
        context = " ".join(x for x in (doc.title or "", doc.outlet or "") if x) if with_title else ""
        text = fold(f"{span} {context}")
        f = extract_facts(f"{span} {context}")
        years = set(f.years) | {y for _, _, y in f.dates if y}
        if doc.date:
            years.add(int(doc.date[:4]))
        words = set(re.findall(r"[a-z0-9]+(?:-[a-z0-9]+)*", text)) | set(re.findall(r"[a-z0-9]+", text))
        # a date's day is not a number: "five years" must not match "5 février"
        numbers = set(f.numbers) | {str(y) for y in years}
        return cls(text=text, dates=set(f.dates), years=years, times=set(f.times),
                   numbers=numbers, words=words)

    def missing(self, facts: Facts) -> list[str]:
        """The facts of a sentence this passage does not hold (empty: all held)."""
        out = []
        for d, m, y in facts.dates:
            # a year must be the date's own; only a date written without one ("le 29
            # janvier") takes its year from the passage or the article's date
            ok = any(m == m2 and (d is None or d == d2)
                     and (y is None or y == y2 or (y2 is None and y in self.years))
                     for d2, m2, y2 in self.dates)
            if not ok:
                out.append(f"date {d or ''}/{m}/{y or ''}")
        out += [f"year {y}" for y in facts.years if y not in self.years]
        out += [f"time {t // 60}:{t % 60:02d}" for t in facts.times if t not in self.times]
        out += [f"number {n}" for n in facts.numbers if n not in self.numbers]
        out += [f"name {n}" for n in facts.names if not self.has_name(n)]
        return out

    def has_name(self, name: str) -> bool:
        """Whether this text holds the folded ``name`` in some form: as written, through
        :data:`ALIASES`, inflected ("américaines" for "us") or transliterated ("putin")."""
        forms = (name, *ALIASES.get(name, ()), *REVERSE_ALIASES.get(name, ()))
        for form in forms:
            if " " in form or "-" in form:
                if form in self.text:
                    return True
            elif form in self.words or (form != name and len(form) >= 4 and any(
                    w.startswith(form) and len(w) - len(form) <= 3 for w in self.words)):  # "américaines"
                return True
        if len(name) >= 5:  # transliterations: Poutine/Putin-like spellings, plurals
            return any(abs(len(w) - len(name)) <= 2 and w[:2] == name[:2]
                       and _edit_distance(w, name) <= len(name) // 3 for w in self.words)
        return False


def _edit_distance(a: str, b: str) -> int:
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        cur = [i]
        for j, cb in enumerate(b, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ca != cb)))
        prev = cur
    return prev[-1]


NO_DOCUMENT = Document(doc_id="", source="", text="")


def mismatches(source: str, restatement: str, doc: Document = NO_DOCUMENT) -> list[str]:
    """What breaks the two-way fact check between a source sentence and a sentence that
    restates it (a model's answer sentence, a translation); empty: the facts match both
    ways. ``doc`` is the source's article, whose date may lend the restatement a year.

    >>> mismatches("Vladimir Poutine a signé la loi le 29 janvier.", "Vladimir Putin signed the law on 29 January.")
    []
    >>> mismatches("Vladimir Poutine a signé la loi le 29 janvier.", "The law was signed on 29 January.")
    ['lacks name poutine', 'lacks name vladimir']
    """
    held = PassageFacts.of_text(source, doc, with_title=False)
    out = sorted(f"adds {m}" for m in held.missing(extract_facts(restatement)))
    out += sorted(f"lacks {m}" for m in PassageFacts.of_text(restatement, NO_DOCUMENT).missing(extract_facts(source)))
    return out


@dataclass
class Verdict:
    """The outcome for one answer sentence: a claim to show, or why it was dropped.

    ``support`` is the passage and the span of the one sentence that holds the answer
    sentence's facts, even when the claim is None because the two do not match both ways
    (``reason`` says how): the reader may then show that sentence as a verbatim quote.
    """

    sentence: str
    claim: Claim | None
    reason: str = ""
    support: tuple[Passage, int, int] | None = None


class Verifier:
    """Attributes answer sentences to passages, or rejects them.

    ``min_similarity`` is the least cosine between the sentence (embedded as a query)
    and the best sentence of the passage it is attributed to; ``min_restatement``, the
    least for the sentence to be shown in its own words when it is in another language
    than that one (else that sentence is quoted).
    """

    def __init__(self, embedder: Embedder, store: IndexStore,
                 min_similarity: float = ReaderConfig.min_support_score,
                 min_restatement: float = ReaderConfig.min_restatement_score) -> None:
        self.embedder = embedder
        self.store = store
        self.min_similarity = min_similarity
        self.min_restatement = min_restatement

    def for_store(self, store: IndexStore) -> Verifier:
        """The same checks against another index generation."""
        return Verifier(self.embedder, store, self.min_similarity, self.min_restatement)

    def verify(self, sentence: str, passages: Sequence[Passage], hint: int | None = None,
               question: str | None = None) -> Verdict:
        """Support ``sentence`` (model markers removed) by one of ``passages``.

        ``hint`` is the 1-based passage number the model cited, if any; ``question``, the
        question it answers: a sentence that only restates it is refused (:func:`restates`).
        """
        text = strip_markers(sentence)
        if not re.search(r"\w", text):
            return Verdict(sentence, None, "empty")
        if question is not None and (why := restates(text, question)):
            return Verdict(sentence, None, why)
        facts = extract_facts(text)
        qvec = self.embedder.embed_query(text)
        rows = [p.row for p in passages if p.row >= 0]
        vectors = self.store.sentences(rows)
        best: tuple[bool, float, Passage, int, int, float] | None = None
        reasons = []
        names = Facts(names=facts.names)
        for number, p in enumerate(passages, 1):
            whole = PassageFacts.of(p)
            missing = whole.missing(names)
            if missing:
                reasons.append(f"[{number}] lacks {', '.join(missing)}")
                continue
            spans, vecs = vectors.get(p.row, ([], np.zeros((0, len(qvec)), np.float32)))
            sims = vecs @ qvec if len(spans) else np.zeros(0, np.float32)
            # one sentence must itself hold every fact (its article's date may lend a year)
            holding = [i for i in range(len(spans)) if _sentence_holds(p, spans[i], facts)]
            if not holding:
                reasons.append(f"[{number}] has no sentence with "
                               f"{', '.join(whole.missing(facts)) or 'these facts together'}")
                continue
            close = [i for i in holding if float(sims[i]) >= self.min_similarity]
            if not close:
                reasons.append(f"[{number}] not close enough ({float(sims[holding].max()):.2f})")
                continue
            for i in close:  # a sentence matching both ways first, then the closest
                a, b = spans[i]
                exact = not mismatches(p.document.text[a:b], text, p.document)
                candidate = (exact, float(sims[i]) + (0.01 if hint == number else 0.0), p, a, b, float(sims[i]))
                if best is None or candidate[:2] > best[:2]:
                    best = candidate
        if best is None:
            return Verdict(sentence, None, "; ".join(reasons) or "no passage")
        exact, _, p, qs, qe, similarity = best
        if not exact:
            problems = mismatches(p.document.text[qs:qe], text, p.document)
            return Verdict(sentence, None, "its facts and the source sentence's differ: " + ", ".join(problems),
                           support=(p, qs, qe))
        unfaithful = self._unfaithful(text, p.document.text[qs:qe], question or "", similarity)
        if unfaithful:
            return Verdict(sentence, None, unfaithful, support=(p, qs, qe))
        return Verdict(sentence, Claim(template=cited(text), passage=p, quote_start=qs, quote_end=qe),
                       support=(p, qs, qe))


    def _unfaithful(self, text: str, source: str, question: str, similarity: float) -> str | None:
        """Why ``text`` may not stand in its own words for ``source`` (whose facts it
        matches both ways), or None: in one language, a content word the source sentence
        and the question lack; across languages, too far from it."""
        if detect_language(text) == detect_language(source):
            extra = content_terms(text) - content_terms(source) - content_terms(question)
            if extra:
                return f"words its source sentence does not have: {', '.join(sorted(extra))}"
        elif similarity < self.min_restatement:
            return (f"in another language than its source sentence and not close enough to it to be shown "
                    f"in other words ({similarity:.2f} < {self.min_restatement:.2f})")
        return None


def restates(sentence: str, question: str) -> str | None:
    """Why ``sentence`` tells nothing ``question`` does not — it is a question itself, or
    its facts and content words are all the question's — or None when it adds something.

    >>> restates("Le Kremlin voit un avantage dans ses relations avec Biden.",
    ...          "Quel avantage le Kremlin voit-il dans ses relations avec Biden ?")
    'it restates the question'
    >>> restates("New START was extended until 5 February 2026.", "When was New START extended?") is None
    True
    >>> restates("When was New START extended?", "When was New START extended?")
    'it is a question'
    """
    if sentence.rstrip().endswith("?"):
        return "it is a question"
    said, asked = extract_facts(sentence), extract_facts(question)
    same_facts = all(getattr(said, f) <= getattr(asked, f) for f in ("dates", "years", "times", "numbers", "names"))
    if same_facts and content_terms(sentence) <= content_terms(question):
        return "it restates the question"
    return None


def _sentence_holds(p: Passage, span: tuple[int, int], facts: Facts) -> bool:
    """Does the sentence itself hold every fact (its article's date may lend the year)? A
    name only in the title does not count: the sentence is what the reader is shown."""
    return not PassageFacts.of_text(p.document.text[span[0]:span[1]], p.document, with_title=False).missing(facts)


def strip_markers(sentence: str) -> str:
    """The sentence without the model's ``[n]`` markers (kept aside as hints)."""
    text = re.sub(r"\s*\[\s*\d+(?:\s*[,;]\s*\d+)*\s*\]", "", sentence)
    return re.sub(r"\s+([.,;:!?])", r"\1", text).strip()


def markers_of(sentence: str) -> list[int]:
    return [int(n) for group in re.findall(r"\[\s*(\d+(?:\s*[,;]\s*\d+)*)\s*\]", sentence)
            for n in re.split(r"\s*[,;]\s*", group)]


def split_sentences(text: str) -> list[str]:
    """Sentences of a model's answer, each with the markers that follow it."""
    parts = re.split(r"(?<=[.!?…])(?:\s*(\[\s*\d+(?:\s*[,;]\s*\d+)*\s*\]))*\s+(?=\S)", text.strip())
    # re.split returns captured markers as separate items: glue them back
    out: list[str] = []
    for part in parts:
        if part is None:
            continue
        if out and re.fullmatch(r"\[\s*\d+(?:\s*[,;]\s*\d+)*\s*\]", part.strip()):
            out[-1] += " " + part.strip()
        elif part.strip():
            out.append(part.strip())
    return out
