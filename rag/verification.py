"""Check every answer sentence against the passages before a reader sees it.

Language models write plausible sentences and put the wrong numbers in brackets, so the
product never trusts a model's citations as given. For each sentence the verifier:

1. reads its facts — dates, times, numbers, names — normalised across English and French
   ("5 February 2026" ↔ "5 février 2026", "Putin" ↔ "Poutine", "five" ↔ "cinq");
2. keeps the passages holding its names (anywhere in the passage or the article's
   title) and one sentence holding all its dates, times and numbers (the article's own
   date counts for a year);
3. among those sentences, picks the one semantically closest to the answer sentence
   (multilingual embeddings), if close enough;
4. cites its passage, quoting that sentence. The model's own ``[n]`` is only a tie-break
   hint. A sentence no passage supports is dropped and counted.

>>> facts = extract_facts("New START was extended on January 29, 2021 for five years.")
>>> sorted(facts.dates), sorted(facts.numbers), sorted(facts.names)
([(29, 1, 2021)], ['5'], ['new', 'start'])
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from .citations import Claim, cited
from .embedding import Embedder
from .index import IndexStore
from .lang import ALIASES, NOT_NAMES, NUMBER_WORDS, REVERSE_ALIASES
from .lang.dates import DAY_MONTH_RE, MONTH_DAY_RE, MONTH_DAY_SHORT_RE, MONTH_NUM, YEAR_RE
from .lang.patterns import DIGITS_RE, NUMBER_WORD_RE, TIME_RE, VAGUE_NUMBER_WORDS
from .text import fold
from .types import Document, Passage


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
    numbers |= {str(NUMBER_WORDS[w]) for w in NUMBER_WORD_RE.findall(fold(rest))
                if w not in VAGUE_NUMBER_WORDS}
    return Facts(frozenset(dates), frozenset(years), frozenset(times), frozenset(numbers),
                 frozenset(_names(text)))


def _blank(text: str, spans: list[tuple[int, int]]) -> str:
    chars = list(text)
    for a, b in spans:
        chars[a:b] = " " * (b - a)
    return "".join(chars)


def _names(text: str) -> set[str]:
    """Capitalised words and acronyms that carry meaning, folded."""
    out: set[str] = set()
    for m in re.finditer(r"\b[A-ZÀ-Þ][\w’'-]*", text):
        word = fold(m.group()).strip("'’-")
        word = re.sub(r"['’](s)?$", "", word)
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
    def of_text(cls, span: str, doc: Document) -> PassageFacts:
        """The facts of ``span`` (a passage or one sentence) of ``doc``, with the article's
        title, outlet and date as context."""
        context = " ".join(x for x in (doc.title or "", doc.outlet or "") if x)
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
        out += [f"name {n}" for n in facts.names if not self._has_name(n)]
        return out

    def _has_name(self, name: str) -> bool:
        forms = (name, *ALIASES.get(name, ()), *REVERSE_ALIASES.get(name, ()))
        for form in forms:
            if " " in form or "-" in form:
                if form in self.text:
                    return True
            elif form in self.words:
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


@dataclass
class Verdict:
    """The outcome for one answer sentence: a claim to show, or why it was dropped."""

    sentence: str
    claim: Claim | None
    reason: str = ""


class Verifier:
    """Attributes answer sentences to passages, or rejects them.

    ``min_similarity`` is the least cosine between the sentence (embedded as a query)
    and the best sentence of the passage it is attributed to.
    """

    def __init__(self, embedder: Embedder, store: IndexStore, min_similarity: float = 0.80) -> None:
        self.embedder = embedder
        self.store = store
        self.min_similarity = min_similarity

    def for_store(self, store: IndexStore) -> Verifier:
        """The same checks against another index generation."""
        return Verifier(self.embedder, store, self.min_similarity)

    def verify(self, sentence: str, passages: Sequence[Passage], hint: int | None = None) -> Verdict:
        """Support ``sentence`` (model markers removed) by one of ``passages``.

        ``hint`` is the 1-based passage number the model cited, if any.
        """
        text = strip_markers(sentence)
        if not re.search(r"\w", text):
            return Verdict(sentence, None, "empty")
        facts = extract_facts(text)
        qvec = self.embedder.embed_query(text)
        rows = [p.row for p in passages if p.row >= 0]
        vectors = self.store.sentences(rows)
        best: tuple[float, Passage, int, int] | None = None
        reasons = []
        numeric = Facts(dates=facts.dates, years=facts.years, times=facts.times, numbers=facts.numbers)
        names = Facts(names=facts.names)
        for number, p in enumerate(passages, 1):
            # names may stand anywhere in the passage (or its article's title); dates,
            # times and numbers must stand in the very sentence that is quoted
            whole = PassageFacts.of(p)
            missing = whole.missing(names)
            if missing:
                reasons.append(f"[{number}] lacks {', '.join(missing)}")
                continue
            spans, vecs = vectors.get(p.row, ([], np.zeros((0, len(qvec)), np.float32)))
            sims = vecs @ qvec if len(spans) else np.zeros(0, np.float32)
            holding = [i for i in range(len(spans)) if _sentence_holds(p, spans[i], numeric)]
            if not holding:
                reasons.append(f"[{number}] has no sentence with "
                               f"{', '.join(whole.missing(numeric)) or 'these facts together'}")
                continue
            i = max(holding, key=lambda j: float(sims[j]))
            if float(sims[i]) < self.min_similarity:
                reasons.append(f"[{number}] not close enough ({float(sims[i]):.2f})")
                continue
            score = float(sims[i]) + (0.01 if hint == number else 0.0)
            if best is None or score > best[0]:
                best = (score, p, spans[i][0], spans[i][1])
        if best is None:
            return Verdict(sentence, None, "; ".join(reasons) or "no passage")
        _, p, qs, qe = best
        return Verdict(sentence, Claim(template=cited(text), passage=p, quote_start=qs, quote_end=qe))


def _sentence_holds(p: Passage, span: tuple[int, int], facts: Facts) -> bool:
    return not PassageFacts.of_text(p.document.text[span[0]:span[1]], p.document).missing(facts)


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
