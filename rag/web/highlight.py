"""Safe HTML for showing a citation: the passage, or the whole article, with the quote
highlighted from its character offsets (never by searching for the string again).

Every piece of article text is HTML-escaped: an article containing ``<script>`` shows it
as text.

>>> from rag.types import Document
>>> doc = Document("d", "d.txt", "Avant. <b>Le traité</b> est prolongé. Après.")
>>> passage_html(doc, 0, len(doc.text), 7, 37)
'Avant. <mark>&lt;b&gt;Le traité&lt;/b&gt; est prolongé.</mark> Après.'
"""

from __future__ import annotations

import html

from rag.types import Citation, Document


def passage_html(doc: Document, start: int, end: int, quote_start: int, quote_end: int) -> str:
    """``doc.text[start:end]`` escaped, with ``[quote_start, quote_end)`` in ``<mark>``."""
    qs, qe = max(start, quote_start), min(end, quote_end)
    if qs >= qe:
        return _paragraphs(html.escape(doc.text[start:end]))
    return _paragraphs(html.escape(doc.text[start:qs]) + "<mark>" + html.escape(doc.text[qs:qe])
                       + "</mark>" + html.escape(doc.text[qe:end]))


def citation_html(doc: Document, citation: Citation) -> str:
    return passage_html(doc, citation.start, citation.end, citation.quote_start, citation.quote_end)


def article_html(doc: Document, passage: tuple[int, int] | None = None,
                 quote: tuple[int, int] | None = None, anchor: str = "cited-passage") -> str:
    """The whole cleaned article, paragraphs kept, the cited passage wrapped in
    ``<span class="passage" id=anchor>`` (to scroll to) and the quote in ``<mark>``."""
    cuts = {0, len(doc.text)}
    if passage:
        cuts |= {passage[0], passage[1]}
    if quote:
        cuts |= {quote[0], quote[1]}
    points = sorted(c for c in cuts if 0 <= c <= len(doc.text))
    out = []
    for a, b in zip(points, points[1:]):
        piece = html.escape(doc.text[a:b])
        if quote and quote[0] <= a and b <= quote[1]:
            piece = f"<mark>{piece}</mark>"
        if passage and a == passage[0]:
            out.append(f'<span class="passage" id="{html.escape(anchor)}">')
        out.append(piece)
        if passage and b == passage[1]:
            out.append("</span>")
    return _paragraphs("".join(out))


def _paragraphs(escaped: str) -> str:
    """Blank lines become paragraph breaks (the text is already escaped)."""
    return escaped.replace("\n\n", "<br><br>").replace("\n", "<br>")
