"""What an upload may cost: an article whose indexing would take minutes is refused."""

from __future__ import annotations

from rag.errors import CorpusError
from rag.ingest.chunking import chunk_document, default_splitter
from rag.settings import Settings
from rag.text import sentence_spans
from rag.types import Document


def upload_work(doc: Document, settings: Settings) -> tuple[int, int]:
    """The passages and sentences an ingest would embed for ``doc`` (its model work)."""
    chunks = chunk_document(doc, default_splitter(settings.chunk_size, settings.chunk_overlap),
                            settings.min_chunk_chars)
    return len(chunks), sum(1 for c in chunks for _ in sentence_spans(doc.text, c.start, c.end))


#: What a refused upload may do instead.
SPLIT_OR_INGEST = "Split it into articles, or copy it into the corpus folder and run rag ingest."


def check_upload(doc: Document, settings: Settings, *, what: str = "an upload",
                 instead: str = SPLIT_OR_INGEST) -> None:
    """Refuse (:class:`CorpusError`, naming the file and why, then what to do ``instead``)
    an uploaded article (or ``what`` else: a page fetched for the page) whose indexing would
    cost more than ``settings.max_upload_texts`` embedded texts."""
    passages, sentences = upload_work(doc, settings)
    if passages + sentences > settings.max_upload_texts:
        raise CorpusError(
            f"{doc.source}: {passages:,} passages and {sentences:,} sentences to index, over the "
            f"{settings.max_upload_texts:,} {what} may hold (RAG_MAX_UPLOAD_TEXTS): indexing it would "
            f"take minutes. {instead}")
