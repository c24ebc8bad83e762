"""Readers: turn retrieved passages into the cited claims of an answer.

* :class:`~rag.answer.readers.learned.LearnedReader` (``learned``, the default) — a fitted
  logistic model picks the sentence that answers, or abstains;
* :class:`~rag.answer.readers.extractive.ExtractiveReader` (``extractive``) — the hand-tuned
  baseline;
* :class:`~rag.answer.readers.generative.GenerativeReader` (``llamacpp:…``, ``ollama:…``,
  ``openai:…``) — a language model whose sentences the verifier checks.

All implement :class:`~rag.answer.readers.base.Reader`; :func:`~rag.answer.readers.registry.load_reader`
builds one from its spec.
"""

from rag.answer.readers.base import Query, Reader, Trace
from rag.answer.readers.registry import (
    READERS,
    Parts,
    ReaderKind,
    available_readers,
    load_reader,
    register_reader,
    unregister_reader,
)

__all__ = ["Query", "Reader", "Trace", "Parts", "READERS", "ReaderKind", "available_readers",
           "load_reader", "register_reader", "unregister_reader"]
