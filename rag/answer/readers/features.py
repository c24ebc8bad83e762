"""What the learned reader knows about each candidate sentence: a few numbers.

One home for the features, used both at answer time (:class:`rag.answer.readers.learned.LearnedReader`)
and when the weights are fitted (``benchmarks/reader/fit.py``), so the two can never
disagree. Every feature is cheap: the sentence vectors were stored at ingest, so a
question costs no model call beyond its own embedding.

>>> FEATURES[:3]
('cos', 'cos_gap', 'cos_rank')
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

import numpy as np

from rag.answer.framing import passage_language
from rag.lang import content_terms, opens_with_pronoun, stop_words, words
from rag.lang.dates import YEAR_RE, has_date
from rag.lang.patterns import DURATION_RE, PLACE_RE, QUANTITY_RE, question_type
from rag.text import ENDS_SENTENCE, fold
from rag.types import Passage, Sentence

# Names of the sentence features, in the order of the weight vector shipped with the
# reader. Adding one means refitting (the loader refuses weights of another list).
FEATURES: tuple[str, ...] = (
    "cos",            # cosine of the question and the sentence
    "cos_gap",        # … minus the best cosine among the candidates
    "cos_rank",       # 1 / (1 + rank of the sentence by cosine)
    "cos_prev",       # cosine of the sentence before it (its context; pronoun subjects)
    "cos_next",       # cosine of the sentence after it
    "lex",            # share of the question's words the sentence holds
    "lex_gap",        # … minus the best share among the candidates
    "lex_ctx",        # share held by the sentence, the one before it and the title together
    "lex_cross",      # lex when question and sentence are in two languages (cognates only)
    "cos_cross",      # cos when question and sentence are in two languages
    "novel",          # share of the sentence's words that are not the question's
    "lex_idf",        # share of the question's words in the sentence, each weighted by its rarity
                      # among the candidates (a word every candidate has tells nothing)
    "lex_idf_gap",    # … minus the best among the candidates
    "bigram",         # share of the question's word pairs the sentence holds in the same order
    "lex_next",       # share of the question's words the sentence after it holds
    "exact",          # share of the question's whole words (3+ letters) the sentence holds as written
    "numbers",        # share of the question's numbers and years the sentence holds
    "pronoun",        # the sentence opens with a pronoun: its subject is in the sentence before
    "title_lex",      # share of the question's words in the article's title
    "fit_time",       # a "when" question, and the sentence has a date or year the question has not
    "fit_count",      # a "how many" question, and the sentence has a number the question has not
                      # (a "how long" question: a length of time)
    "fit_person",     # a "who" question, and the sentence has a name the question has not
    "fit_place",      # a "where" question, and the sentence names a place
    "type_miss",      # the question asks for one of those and the sentence has none
    "passage_gap",    # the passage's retrieval score minus the best passage's
    "passage_rank",   # 1 / (1 + the passage's rank)
    "heading",        # short, no final punctuation: a heading or a lead-in
    "length",         # log of the sentence's length in characters
)

_NAME = re.compile(r"(?<![.!?«\"]\s)(?<!^)\b[A-ZÀ-Þ][a-zà-ÿ]+(?:[ -][A-ZÀ-Þ][a-zà-ÿ]+)+")
_TIME_OF_DAY = re.compile(r"\b\d{1,2}h\d{2}\b|\b\d{1,2}:\d{2}\b")


def fits_type(text: str, qtype: str, question: str = "") -> bool:
    """Does a sentence hold the kind of thing the question asks for — and not only the
    one the question itself names ("Who succeeded Louis XIV?" is not answered by a
    sentence whose only name is Louis XIV)?

    >>> fits_type("Le traité a été prolongé le 29 janvier.", "time")
    True
    >>> fits_type("Louis XIV est mort en 1715.", "person", "Qui a succédé à Louis XIV ?")
    False
    >>> fits_type("L'échange a duré un peu plus d'une heure.", "duration")
    True
    >>> fits_type("La conversation, deuxième ce mois-ci, a été confirmée.", "duration")
    False
    """
    asked = fold(question)
    if qtype == "time":  # a date, a day or a year — other than the question's own years
        for year in set(YEAR_RE.findall(question)):
            text = text.replace(year, " ")
        return has_date(text) or bool(_TIME_OF_DAY.search(text))
    if qtype == "duration":  # "how long": a length of time, not any number
        return any(fold(m.group()) not in asked for m in DURATION_RE.finditer(text))
    if qtype == "count":
        return any(fold(m.group()) not in asked for m in QUANTITY_RE.finditer(text))
    if qtype == "person":
        return any(fold(m.group()) not in asked for m in _NAME.finditer(text))
    if qtype == "place":
        return bool(PLACE_RE.search(text))
    return True


def is_heading(text: str) -> bool:
    """Short and without final punctuation: a title or a lead-in, not a statement."""
    return len(text) < 80 and not ENDS_SENTENCE.search(text)


@dataclass(frozen=True)
class Candidate:
    """One sentence the reader may quote, with the passage it belongs to."""

    passage: Passage
    sentence: Sentence
    index: int  # position of the sentence in its passage

    @property
    def text(self) -> str:
        return self.passage.document.text[self.sentence.start:self.sentence.end]


def candidates(passages: list[Passage]) -> list[Candidate]:
    """Every sentence of every passage, in passage order."""
    return [Candidate(p, s, i) for p in passages for i, s in enumerate(p.sentences)]


def featurize(question: str, language: str, passages: list[Passage]
              ) -> tuple[list[Candidate], np.ndarray]:
    """The candidates of ``passages`` and their feature matrix (rows follow :data:`FEATURES`).

    ``question`` is the text whose words are matched (the condensed query for a
    follow-up); each sentence's ``score`` is its cosine with that question.
    """
    cands = candidates(passages)
    if not cands:
        return cands, np.zeros((0, len(FEATURES)), np.float32)
    qtype = question_type(question)
    terms = content_terms(question)
    n_terms = max(len(terms), 1)
    qwords = words(question)
    stop = stop_words()
    qexact = {w for w in qwords if len(w) >= 3 and w not in stop}
    qnumbers = set(re.findall(r"\d+", question))
    bigrams = {(a[:5], b[:5]) for a, b in zip(qwords, qwords[1:])}
    best_passage = max(p.score for p in passages)
    langs = {id(p): passage_language(p, language) for p in passages}
    texts = [c.text for c in cands]
    held = [content_terms(t) for t in texts]  # each candidate's terms
    # rarity of each question word among the candidates (a local IDF)
    df = {t: sum(t in w for w in held) for t in terms}
    idf = {t: math.log((len(cands) + 1) / (df[t] + 0.5)) for t in terms}
    idf_total = sum(idf.values()) or 1.0
    cos = np.array([c.sentence.score for c in cands], np.float32)
    order = np.argsort(-cos)
    rank = np.empty(len(cands), np.float32)
    rank[order] = np.arange(len(cands))
    titles: dict[str, set[str]] = {}
    rows = []
    for i, c in enumerate(cands):
        text, own = texts[i], held[i]
        sents = c.passage.sentences
        # candidates list every sentence of a passage in order: the neighbours are i ∓ 1
        prev = sents[c.index - 1] if c.index > 0 else None
        nxt = sents[c.index + 1] if c.index + 1 < len(sents) else None
        doc = c.passage.document
        if doc.doc_id not in titles:
            titles[doc.doc_id] = content_terms(doc.title or "")
        context = own | titles[doc.doc_id] | (held[i - 1] if prev is not None else set())
        after = held[i + 1] if nxt is not None else set()
        cross = float(langs[id(c.passage)] != language)
        lex = len(terms & own) / n_terms
        swords = words(text)
        spairs = {(a[:5], b[:5]) for a, b in zip(swords, swords[1:])}
        fits = qtype != "other" and fits_type(text, qtype, question)
        sset = set(swords)
        rows.append([
            c.sentence.score, 0.0, 0.0,
            prev.score if prev is not None else 0.0,
            nxt.score if nxt is not None else 0.0,
            lex, 0.0, len(terms & context) / n_terms,
            lex * cross, c.sentence.score * cross,
            len(own - terms) / max(len(own), 1),
            sum(idf[t] for t in terms & own) / idf_total, 0.0,
            len(bigrams & spairs) / max(len(bigrams), 1),
            len(terms & after) / n_terms,
            len(qexact & sset) / max(len(qexact), 1),
            len(qnumbers & set(re.findall(r"\d+", text))) / max(len(qnumbers), 1),
            float(opens_with_pronoun(text)),
            len(terms & titles[doc.doc_id]) / n_terms,
            float(fits and qtype == "time"), float(fits and qtype in ("count", "duration")),
            float(fits and qtype == "person"), float(fits and qtype == "place"),
            float(qtype != "other" and not fits),
            c.passage.score - best_passage, 1.0 / (1 + c.passage.rank),
            float(is_heading(text)), math.log(max(len(text), 1)),
        ])
    x = np.array(rows, np.float32)
    col = {name: j for j, name in enumerate(FEATURES)}
    x[:, col["cos_gap"]] = cos - cos.max()
    x[:, col["cos_rank"]] = 1.0 / (1.0 + rank)
    x[:, col["lex_gap"]] = x[:, col["lex"]] - x[:, col["lex"]].max()
    x[:, col["lex_idf_gap"]] = x[:, col["lex_idf"]] - x[:, col["lex_idf"]].max()
    return cands, x
