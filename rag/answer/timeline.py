"""Answers that know when their articles were written.

Articles of different dates may say different things: New START "due to expire on
5 February 2021" in one, "extended to 5 February 2026" in a later one. Two rules:

* **Dated claims** (:func:`dated`): when an answer cites articles of different dates, each
  claim says its article's date, the newest leading ("As of 14 February 2022: …", the
  older "Earlier (31 January 2021): …"), so the reader sees which statement is the newer.
* **The latest state** (:func:`newest_first`): a question that asks for it ("what is the
  latest…", "où en est…": :func:`rag.lang.patterns.asks_latest`) is answered as any
  other; then the articles *newer* than those cited are searched (by the question, and by
  the answer's own first quote: a later statement of the same matter rarely uses the
  question's words), and the reader is asked the question on them alone. Its answer leads
  when the reader gives one and it is close to the earlier answer (the same matter, stated
  later: ``Settings.latest_min_similarity``); the earlier answer stays after it, dated. The
  reader judges whether a newer article answers, so a newer article that merely shares a
  subject is not quoted.

Dates are the articles' own (front matter, page metadata, or read from the text at
ingest); an article without one is never called newer or older than another.

>>> newer("2022-02-14", "2021-01"), newer("2021-01-31", "2021-01"), newer(None, "2021")
(True, False, False)
>>> day_after("2021-01-31"), day_after("2021-12"), day_after("2021")
('2021-02-01', '2022-01', '2022')
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import replace

import numpy as np

from rag.answer.citations import Claim
from rag.answer.framing import claim_for, date_lead
from rag.answer.readers.base import Query, Reader, Trace
from rag.answer.retrieval import Retriever
from rag.types import Filters, Passage, Sentence


def newer(a: str | None, b: str | None) -> bool:
    """Is ISO date ``a`` (``YYYY``, ``YYYY-MM`` or ``YYYY-MM-DD``) surely later than ``b``?
    A date and a less precise one that contains it (``2021-01-31``, ``2021-01``) are
    neither newer nor older; a missing date never is."""
    if not a or not b:
        return False
    common = min(len(a), len(b))
    return a[:common] > b[:common]


def day_after(date: str) -> str:
    """The first period after ISO date ``date``, as precise as it (a day, a month, a year)."""
    parts = [int(x) for x in date.split("-")]
    if len(parts) == 3:
        try:
            return (dt.date(*parts) + dt.timedelta(days=1)).isoformat()
        except ValueError:  # "2021-02-30" written by hand: the month after, to be safe
            parts = parts[:2]
    if len(parts) == 2:
        year, month = parts
        return f"{year + month // 12}-{month % 12 + 1:02d}"
    return str(parts[0] + 1)


def newest_date(claims: Sequence[Claim]) -> str | None:
    """The date of the newest article ``claims`` cite (None: none is dated)."""
    dates = [c.passage.document.date for c in claims if c.passage.document.date]
    newest = None
    for d in dates:
        if newest is None or newer(d, newest) or (not newer(newest, d) and len(d) > len(newest)):
            newest = d
    return newest


def newest_first(claims: list[Claim], query: Query, *, reader: Reader, retriever: Retriever, k: int,
                 min_similarity: float, filters: Filters | None = None,
                 trace: Trace | None = None) -> list[Claim]:
    """``claims`` (the answer to ``query``, a question asking for the latest state) led by
    the answer the newest article gives, when there is one (see the module); as they are
    otherwise. Each newer answer found is searched past again (Truss, then Sunak, then
    Starmer), at most :data:`MAX_STEPS` times. ``filters`` (the user's) hold for the newer
    articles too."""
    since = newest_date(claims)
    if not claims or since is None:
        return claims
    lead: Claim | None = None
    anchor_claim = claims[0]
    for _ in range(MAX_STEPS):
        found = _newer_answer(anchor_claim, since, query, reader, retriever, k, min_similarity, filters, trace)
        if found is None:
            break
        lead = anchor_claim = found
        since = found.passage.document.date or since
    if lead is None:
        return claims
    return [reframed(c, query.language, i == 0) for i, c in enumerate([lead, *claims])]


#: Newer answers searched past at most (each costs two retrievals and a reading).
MAX_STEPS = 3


def _newer_answer(anchor_claim: Claim, since: str, query: Query, reader: Reader, retriever: Retriever, k: int,
                  min_similarity: float, filters: Filters | None, trace: Trace | None) -> Claim | None:
    """The reader's answer from the articles newer than ``since``, when it is close enough
    to ``anchor_claim`` (the same matter); None otherwise."""
    anchor = _quote(anchor_claim)
    later = _later_passages(retriever, query.text, anchor, since, k, filters)
    if not later:
        return None
    found = next(iter(reader.answer(query, later, trace)), None)
    if found is None or not newer(found.passage.document.date, since):
        return None
    vectors = retriever.embedder.embed_passages([anchor, _quote(found)])
    return found if float(np.dot(vectors[0], vectors[1])) >= min_similarity else None


def _quote(claim: Claim) -> str:
    return claim.passage.document.text[claim.quote_start:claim.quote_end]


def _later_passages(retriever: Retriever, question: str, anchor: str, since: str, k: int,
                    filters: Filters | None) -> list[Passage]:
    """The passages of the articles newer than ``since`` that the question or the anchor
    (the earlier answer's quote) finds, scored against the question (what readers read)."""
    date_from = day_after(since)
    if filters is not None and filters.date_from and newer(filters.date_from, date_from):
        date_from = filters.date_from
    window = Filters(doc_ids=filters.doc_ids if filters else None, date_from=date_from,
                     date_to=filters.date_to if filters else None)
    docs = {p.document.doc_id for text in (question, anchor) for p in retriever.retrieve(text, k=k, filters=window)
            if newer(p.document.date, since)}
    if not docs:
        return []
    return retriever.retrieve(question, k=k, filters=Filters(doc_ids=frozenset(docs)))


def reframed(claim: Claim, language: str, first: bool) -> Claim:
    """``claim`` framed for its new place: a quote framed by
    :func:`rag.answer.framing.claim_for` ("According to…" first, "Also, according to…"
    after) is framed again; a claim in a model's own words is kept as it is."""
    if not _framed_quote(claim, language):
        return claim
    return claim_for(claim.passage, _sentence(claim), language, first, claim.translation)


def dated(claims: list[Claim], language: str) -> list[Claim]:
    """``claims`` with their articles' dates leading them when they cite articles of at
    least two different dates (see the module); as they are otherwise. A claim quoting its
    article is framed again with the date leading, said once; a claim in a model's own
    words gets the date before it."""
    dates = {c.passage.document.date for c in claims if c.passage.document.date}
    newest = [d for d in dates if not any(newer(o, d) for o in dates)]
    if len(newest) == len(dates):  # no two dates of which one is newer: nothing to tell apart
        return claims
    out: list[Claim] = []
    for i, c in enumerate(claims):
        date = c.passage.document.date
        if not date:
            out.append(c)
            continue
        era = "as_of" if date in newest else "earlier"
        if _framed_quote(c, language):
            out.append(claim_for(c.passage, _sentence(c), language, i == 0, c.translation, era=era))
        else:
            out.append(replace(c, template=date_lead(date, language, era) + c.template))
    return out


def _framed_quote(claim: Claim, language: str) -> bool:
    """Was ``claim`` framed by :func:`rag.answer.framing.claim_for` (a quote, first or not)?"""
    return any(claim_for(claim.passage, _sentence(claim), language, first, claim.translation).template
               == claim.template for first in (True, False))


def _sentence(claim: Claim) -> Sentence:
    return Sentence(claim.quote_start, claim.quote_end, 0.0)
