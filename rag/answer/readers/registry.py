"""Readers by name: the ``RAG_GENERATOR`` / ``--reader`` spec picks one.

A spec is ``KIND`` or ``KIND:ARGUMENT`` — ``learned``, ``extractive``,
``neural[:ADAPTER.safetensors]``, ``llamacpp:/path/model.gguf``, ``ollama:MODEL[@URL]``, ``openai:MODEL@BASE_URL``.
Adding a reader is one class and one :func:`register_reader` call::

    register_reader("mine", lambda argument, parts: MyReader(parts.settings.reader))

>>> sorted(READERS)
['extractive', 'learned', 'llamacpp', 'neural', 'ollama', 'openai']
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from rag.answer.readers.base import Reader
from rag.errors import RagError
from rag.models.embedding import Embedder
from rag.settings import Settings
from rag.store.index_store import IndexStore

#: What the offline readers fall back to / what the page always offers.
OFFLINE_DEFAULT = "learned"


@dataclass(frozen=True)
class Parts:
    """What a reader may be built from: the settings and the loaded models and index."""

    settings: Settings
    embedder: Embedder
    store: IndexStore


ReaderFactory = Callable[[str, Parts], Reader]


def _learned(argument: str, parts: Parts) -> Reader:
    from rag.answer.readers.learned import LearnedReader

    return LearnedReader.from_config(parts.settings.reader, argument or None)


def _neural(argument: str, parts: Parts) -> Reader:
    from rag.answer.readers.neural import NeuralReader

    return NeuralReader.from_config(parts.settings.reader, argument or None)


def _extractive(argument: str, parts: Parts) -> Reader:
    from rag.answer.readers.extractive import ExtractiveReader

    return ExtractiveReader(parts.settings.reader)


def _generative(kind: str) -> ReaderFactory:
    def make(argument: str, parts: Parts) -> Reader:
        from rag.answer.readers.generative import GenerativeReader
        from rag.answer.verification import Verifier
        from rag.models.llm import chat_model_from_spec

        spec = f"{kind}:{argument}"
        verifier = Verifier(parts.embedder, parts.store, min_similarity=parts.settings.reader.min_support_score)
        return GenerativeReader.from_chat_model(chat_model_from_spec(spec), spec, verifier,
                                                load_reader(OFFLINE_DEFAULT, parts))
    return make


READERS: dict[str, ReaderFactory] = {
    "learned": _learned,
    "neural": _neural,
    "extractive": _extractive,
    "llamacpp": _generative("llamacpp"),
    "ollama": _generative("ollama"),
    "openai": _generative("openai"),
}


def register_reader(kind: str, factory: ReaderFactory) -> None:
    """Make ``kind[:argument]`` a reader spec (plug-ins, tests' fake readers)."""
    READERS[kind] = factory


def load_reader(spec: str, parts: Parts) -> Reader:
    """The reader a spec names, built from ``parts``."""
    kind, _, argument = spec.strip().partition(":")
    factory = READERS.get(kind)
    if factory is None:
        raise RagError(f"Unknown reader {spec!r}. Use one of: learned, extractive, neural[:PATH], llamacpp:PATH.gguf, "
                       "ollama:MODEL[@URL], openai:MODEL@BASE_URL.")
    return factory(argument, parts)


def available_readers(configured: str | None = None) -> list[str]:
    """The readers on offer (what the page's reader setting lists): the offline ones,
    then the generative one the settings configure, if any."""
    from rag.answer.readers.neural import shipped_weights

    names = [OFFLINE_DEFAULT, "extractive"] + (["neural"] if shipped_weights() else [])
    if configured and configured not in names:
        names.append(configured)
    return names
