"""How a quote becomes a claim of the answer, in the question's language: the one place
claims are framed ("According to RT France (January 2021) [1]: «…»", a checked translation
leading its quote) — readers, compound questions and translation all go through it."""

from __future__ import annotations

from rag.answer.citations import MARKER, Claim, cited, defuse
from rag.lang import detect_language, get, phrase
from rag.lang.dates import format_date
from rag.types import Chunk, Passage, Sentence


def chunk_language(chunk: Chunk, default: str) -> str:
    """The language of a chunk, told at ingest (:attr:`rag.types.Chunk.language`); told
    from its words for a chunk that does not say (made by hand, or by an older version),
    ``default`` when they do not either."""
    return chunk.language or detect_language(chunk.text, default=default)


def passage_language(p: Passage, default: str) -> str:
    """The language of a passage's chunk (:func:`chunk_language`)."""
    return chunk_language(p.chunk, default)


def claim_for(p: Passage, s: Sentence, language: str, first: bool, translation: str | None = None, *,
              era: str | None = None) -> Claim:
    """Quote sentence ``s`` of passage ``p`` verbatim. In the article's language the
    quote is the claim; in another language it is framed in the question's language:
    ``According to RT France (January 2021) [1]: «…»``, or, given a checked
    ``translation``, the translation leads and the quote follows as its source:
    ``… [1] (translated from RT France (January 2021): «…»)``. With ``era`` ("as_of",
    "earlier": :mod:`rag.answer.timeline`), the article's date leads the claim, said once:
    ``As of 14 February 2022: According to Sputnik France [1]: «…»``."""
    doc = p.document
    quote = defuse(doc.text[s.start:s.end])
    lead = date_lead(doc.date, language, era) if era and doc.date else ""
    if passage_language(p, language) == language:
        template = cited(quote)
        translation = None
    else:
        source = doc.outlet or phrase(language, "an_article")
        date = None if lead else format_date(doc.date, language)
        key = "translated" if translation else "according" if first else "also"
        template = phrase(language, key).format(source=source, date=f" ({date})" if date else "", marker=MARKER,
                                                quote=quoted(quote, language), translation=translation)
    return Claim(template=lead + template, passage=p, quote_start=s.start, quote_end=s.end, translation=translation)


def date_lead(date: str, language: str, era: str) -> str:
    """What leads a dated claim: ``As of 14 February 2022: `` (``era`` "as_of") or
    ``Earlier (31 January 2021): `` ("earlier").

    >>> date_lead("2022-02-14", "fr", "as_of"), date_lead("2021-01", "fr", "as_of")
    ('Au 14 février 2022 : ', 'En janvier 2021 : ')
    """
    key = "as_of_month" if era == "as_of" and len(date) < 10 else era
    return phrase(language, key).format(date=format_date(date, language))


def is_foreign_quote(claim: Claim, language: str) -> bool:
    """A claim that quotes (not restates) a passage in another language than ``language``."""
    quote = defuse(claim.passage.document.text[claim.quote_start:claim.quote_end])
    return quote in claim.template and passage_language(claim.passage, language) != language


def quoted(quote: str, language: str) -> str:
    """Wrap a quote in guillemets, unless it already opens with a quotation mark.

    >>> quoted("Il pleut.", "fr"), quoted("«Non»", "en")
    ('« Il pleut. »', '«Non»')
    """
    if quote[:1] in "«\"“":
        return quote
    opening, closing = get(language).quote_marks
    return f"{opening}{quote}{closing}"
