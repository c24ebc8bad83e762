"""Readers: turn retrieved passages into the cited claims of an answer.

* :class:`~rag.readers.learned.LearnedReader` (``learned``, the default) — a fitted
  logistic model picks the sentence that answers, or abstains;
* :class:`~rag.readers.extractive.ExtractiveReader` (``extractive``) — the hand-tuned
  baseline;
* :class:`~rag.readers.generative.GenerativeReader` (``llamacpp:…``, ``ollama:…``,
  ``openai:…``) — a language model whose sentences the verifier checks.

All implement :class:`~rag.readers.base.Reader`; :func:`~rag.readers.registry.load_reader`
builds one from its spec.
"""

from .base import Query, Reader, Trace, claim_for
from .registry import READERS, Parts, available_readers, load_reader, register_reader

__all__ = ["Query", "Reader", "Trace", "claim_for", "Parts", "READERS", "available_readers",
           "load_reader", "register_reader"]
