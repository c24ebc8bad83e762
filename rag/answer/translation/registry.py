"""Translators by kind: the ``RAG_TRANSLATOR`` / ``--translator`` spec picks one.

A spec is ``KIND`` or ``KIND:ARGUMENT`` — ``marian[:DIR]`` (the offline opus-mt models),
``llamacpp:PATH.gguf``, ``ollama:MODEL[@URL]``, ``openai:MODEL@BASE_URL`` — or ``auto``
(the default: opus-mt when it is installed, else none) or ``none``. Adding a translator is
one :class:`~rag.answer.translation.base.Translator` subclass and one
:func:`register_translator` call::

    register_translator("mine", lambda argument: MyTranslator(argument))
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from rag.answer.translation.base import Translator
from rag.errors import RagError

#: The default spec: the offline opus-mt translator when its models are installed, else none.
AUTO = "auto"
#: Specs that turn translation off.
OFF = ("", "none", "off")

TranslatorFactory = Callable[[str], Translator]


def _marian(argument: str) -> Translator:
    from rag.answer.translation.opus import MarianTranslator

    return MarianTranslator.from_argument(argument)


def _chat_model(kind: str) -> TranslatorFactory:
    def make(argument: str) -> Translator:
        from rag.answer.translation.chat_model import ChatModelTranslator
        from rag.models.llm import chat_model_from_spec

        spec = f"{kind}:{argument}"
        return ChatModelTranslator(chat_model_from_spec(spec, max_tokens=200), spec)
    return make


@dataclass(frozen=True)
class TranslatorKind:
    """A registered translator: what builds it from the spec's argument, and how its spec is
    written (for the unknown-translator message)."""

    factory: TranslatorFactory
    usage: str


TRANSLATORS: dict[str, TranslatorKind] = {}


def register_translator(kind: str, factory: TranslatorFactory, *, usage: str | None = None) -> None:
    """Make ``kind[:argument]`` a translator spec (plug-ins, tests' fake translators);
    ``usage`` is how users write it (default ``KIND[:ARGUMENT]``)."""
    TRANSLATORS[kind] = TranslatorKind(factory, usage or f"{kind}[:ARGUMENT]")


def unregister_translator(kind: str) -> None:
    """Take a translator out of the registry (a test's plug-in, when it is done)."""
    TRANSLATORS.pop(kind, None)


register_translator("marian", _marian, usage="marian[:DIR] (the offline opus-mt models; make install-translator)")
register_translator("llamacpp", _chat_model("llamacpp"), usage="llamacpp:PATH.gguf")
register_translator("ollama", _chat_model("ollama"), usage="ollama:MODEL[@URL]")
register_translator("openai", _chat_model("openai"), usage="openai:MODEL@BASE_URL")


def load_translator(spec: str) -> Translator:
    """The translator a spec names; a clear error for a kind no one registered."""
    kind, _, argument = spec.strip().partition(":")
    registered = TRANSLATORS.get(kind)
    if registered is None:
        forms = ", ".join(k.usage for k in TRANSLATORS.values())
        raise RagError(f"Unknown translator {spec!r}. Use one of: {forms}.")
    return registered.factory(argument)


def translator_from_spec(spec: str) -> Translator | None:
    """The translator ``spec`` names (``RAG_TRANSLATOR``), or None when it names none.

    ``auto`` (the default) is the offline opus-mt translator when its models are
    assembled and checked in ``~/.cache/newsrag/opus-mt`` and ``transformers`` can run
    them (:func:`rag.models.opus.available`), else None: the framed quote alone, as without a
    model. ``""``, ``none`` or ``off``: never translate. Anything else is
    :func:`load_translator`'s, and a translator it names but cannot build is an error.
    """
    spec = spec.strip()
    if spec.lower() in OFF:
        return None
    if spec.lower() == AUTO:
        from rag.models.opus import available

        return load_translator("marian") if available() else None
    return load_translator(spec)
