"""Split documents into sentence-aware, overlapping chunks with exact offsets.

The splitter is pluggable (any LangChain ``TextSplitter``); the default is LangChain's
``RecursiveCharacterTextSplitter`` cutting at paragraphs, then sentences, then words.
Offsets are recomputed and checked here so that ``doc.text[start:end] == chunk.text``
always holds, whatever the splitter does with whitespace.
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Iterable
from typing import Any

from langchain_text_splitters import RecursiveCharacterTextSplitter, TextSplitter

from rag.lang import detect_language
from rag.types import Chunk, Document

# Paragraphs, lines, sentence ends (kept with their sentence), then words.
SENTENCE_SEPARATORS = ["\n\n", "\n", r"(?<=[.!?…»])\s+", r"(?<=[;:,])\s+", " ", ""]


def default_splitter(chunk_size: int = 700, chunk_overlap: int = 100) -> TextSplitter:
    return RecursiveCharacterTextSplitter(
        chunk_size=chunk_size,
        chunk_overlap=chunk_overlap,
        separators=SENTENCE_SEPARATORS,
        is_separator_regex=True,
        # Keep each separator (the whitespace after a sentence end) with the piece before
        # it, so pieces are rejoined with the text's own whitespace, never the pattern.
        keep_separator="end",
        strip_whitespace=True,
    )


def chunk_document(doc: Document, splitter: TextSplitter | None = None,
                   min_chars: int = 250) -> list[Chunk]:
    """Chunks of ``doc`` in text order; chunks under ``min_chars`` join their neighbour.

    >>> from rag.types import Document
    >>> d = Document("d", "d.txt", "Une phrase. " * 100)
    >>> cs = chunk_document(d)
    >>> all(d.text[c.start:c.end] == c.text for c in cs)
    True
    """
    splitter = splitter or default_splitter()
    overlap = int(getattr(splitter, "_chunk_overlap", 0) or 0)
    spans = _locate(doc.text, splitter.split_text(doc.text), overlap)
    spans = _merge_short(spans, min_chars)
    chunks: list[Chunk] = []
    seen: dict[str, int] = {}
    for start, end in spans:
        text = doc.text[start:end]
        cid = chunk_id(doc.doc_id, text)
        if cid in seen:  # the same text twice in one article: keep ids unique and stable
            seen[cid] += 1
            cid = chunk_id(doc.doc_id, f"{text}\0{seen[cid]}")
        else:
            seen[cid] = 0
        chunks.append(Chunk(chunk_id=cid, doc_id=doc.doc_id, start=start, end=end, text=text,
                            language=detect_language(text, default="")))
    return chunks


def chunk_documents(docs: Iterable[Document], splitter: TextSplitter | None = None,
                    min_chars: int = 250) -> list[Chunk]:
    return [c for d in docs for c in chunk_document(d, splitter, min_chars)]


def chunked_payload(doc: Document, chunks: list[Chunk]) -> dict[str, Any]:
    """A document and its chunks as JSON-ready plain data (the chunks as offsets, their
    text being the document's): how they cross to and from Ray's workers and wait on disk
    between an ingest's passes (:class:`rag.ingest.spool.ArticleSpool`). Never pickled.

    >>> d = Document("d", "d.txt", "Une phrase. " * 100)
    >>> cs = chunk_document(d)
    >>> from_chunked_payload(chunked_payload(d, cs)) == (d, cs)
    True
    """
    return {"document": dataclasses.asdict(doc),
            "chunks": [[c.chunk_id, c.start, c.end, c.language] for c in chunks]}


def from_chunked_payload(payload: dict[str, Any]) -> tuple[Document, list[Chunk]]:
    """The document and chunks of :func:`chunked_payload`."""
    doc = Document(**payload["document"])
    return doc, [Chunk(cid, doc.doc_id, a, b, doc.text[a:b], language) for cid, a, b, language in payload["chunks"]]


def chunk_id(doc_id: str, text: str) -> str:
    """Content hash: the same text of the same article always gets the same id."""
    return hashlib.sha256(f"{doc_id}\0{text}".encode()).hexdigest()[:20]


def _locate(text: str, pieces: list[str], overlap: int = 0) -> list[tuple[int, int]]:
    """Offsets of each split piece in ``text``. A piece starts no earlier than
    ``overlap`` characters before the previous one ended (as LangChain's own
    ``add_start_index`` assumes), so repeated text is located at the right place."""
    spans: list[tuple[int, int]] = []
    for piece in pieces:
        piece = piece.strip()
        if not piece:
            continue
        cursor = max(spans[-1][0] + 1, spans[-1][1] - overlap) if spans else 0
        start = text.find(piece, cursor)
        if start < 0:  # the splitter altered the text: search from the beginning
            start = text.find(piece)
        if start < 0:
            raise ValueError(f"splitter returned text not found in the document: {piece[:60]!r}")
        spans.append((start, start + len(piece)))
    return spans


def _merge_short(spans: list[tuple[int, int]], min_chars: int) -> list[tuple[int, int]]:
    """Fold chunks shorter than ``min_chars`` into the previous (or next) chunk."""
    out: list[tuple[int, int]] = []
    for start, end in spans:
        if out and (end - start < min_chars or out[-1][1] - out[-1][0] < min_chars):
            prev_start, prev_end = out[-1]
            if end <= prev_end:
                continue
            out[-1] = (prev_start, end)
        else:
            out.append((start, end))
    return out
