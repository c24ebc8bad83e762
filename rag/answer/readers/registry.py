"""Readers by name: the ``RAG_READER`` / ``--reader`` spec picks one.

A spec is ``KIND`` or ``KIND:ARGUMENT`` — ``learned``, ``extractive``,
``neural[:ADAPTER.safetensors]``, ``llamacpp:/path/model.gguf``, ``ollama:MODEL[@URL]``, ``openai:MODEL@BASE_URL``.
Adding a reader is one class and one :func:`register_reader` call::

    register_reader("mine", lambda argument, parts: MyReader(parts.settings.reader_config))

The unknown-reader message and the page's reader choices are read from the registry:

>>> READERS["neural"].usage
'neural[:PATH]'
>>> available_readers()[0] == OFFLINE_DEFAULT
True
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

    return LearnedReader.from_config(parts.settings.reader_config, argument or None)


def _neural(argument: str, parts: Parts) -> Reader:
    from rag.answer.readers.neural import NeuralReader

    return NeuralReader.from_config(parts.settings.reader_config, argument or None)


def _extractive(argument: str, parts: Parts) -> Reader:
    from rag.answer.readers.extractive import ExtractiveReader

    return ExtractiveReader(parts.settings.reader_config)


def _generative(kind: str) -> ReaderFactory:
    def make(argument: str, parts: Parts) -> Reader:
        from rag.answer.readers.generative import GenerativeReader
        from rag.answer.verification import Verifier
        from rag.models.llm import chat_model_from_spec

        spec = f"{kind}:{argument}"
        config = parts.settings.reader_config
        verifier = Verifier(parts.embedder, parts.store, min_similarity=config.min_support_score,
                            min_restatement=config.min_restatement_score)
        model = chat_model_from_spec(spec, timeout=parts.settings.llm_timeout)
        return GenerativeReader.from_chat_model(model, spec, verifier,
                                                load_reader(OFFLINE_DEFAULT, parts))
    return make


@dataclass(frozen=True)
class ReaderKind:
    """One kind of reader: ``factory`` builds it from the text after ``KIND:`` and the
    loaded parts; ``usage`` is how a spec of it is written (for messages); ``offered``
    says whether the page offers it without configuration (a bool, or a callable asked
    each time the page is built: the neural reader is offered only when its weights
    are installed)."""

    factory: ReaderFactory
    usage: str
    offered: bool | Callable[[], bool] = True

    def is_offered(self) -> bool:
        return self.offered() if callable(self.offered) else self.offered


def _neural_installed() -> bool:
    from rag.answer.readers.neural import shipped_weights

    return shipped_weights() is not None


#: Every reader kind, in the order the page offers them and messages list them.
READERS: dict[str, ReaderKind] = {}


def register_reader(kind: str, factory: ReaderFactory, *, usage: str | None = None,
                    offered: bool | Callable[[], bool] = True) -> None:
    """Make ``kind[:argument]`` a reader spec (plug-ins, tests' fake readers).

    ``usage`` is how a spec of it is written in messages (default: ``kind``);
    ``offered``, whether the page offers it without configuration (a reader that needs
    an argument, a model path say, should say False: the page then offers it only when
    the settings name it)."""
    READERS[kind] = ReaderKind(factory, usage or kind, offered)


def unregister_reader(kind: str) -> None:
    """Forget ``kind`` (a test's reader, once the test is done)."""
    READERS.pop(kind, None)


register_reader(OFFLINE_DEFAULT, _learned)
register_reader("extractive", _extractive)
register_reader("neural", _neural, usage="neural[:PATH]", offered=_neural_installed)
register_reader("llamacpp", _generative("llamacpp"), usage="llamacpp:PATH.gguf", offered=False)
register_reader("ollama", _generative("ollama"), usage="ollama:MODEL[@URL]", offered=False)
register_reader("openai", _generative("openai"), usage="openai:MODEL@BASE_URL", offered=False)


def load_reader(spec: str, parts: Parts) -> Reader:
    """The reader a spec names, built from ``parts``."""
    kind, _, argument = spec.strip().partition(":")
    registered = READERS.get(kind)
    if registered is None:
        forms = ", ".join(r.usage for r in READERS.values())
        raise RagError(f"Unknown reader {spec!r}. Use one of: {forms}.")
    return registered.factory(argument, parts)


def available_readers(configured: str | None = None) -> list[str]:
    """The readers on offer (what the page's reader setting lists): those offered without
    configuration, in their registration order, then the one the settings configure
    (``configured``), if it is not among them."""
    names = [kind for kind, registered in READERS.items() if registered.is_offered()]
    if configured and configured not in names:
        names.append(configured)
    return names
