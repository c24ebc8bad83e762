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


TRANSLATORS: dict[str, TranslatorFactory] = {
    "marian": _marian,
    "llamacpp": _chat_model("llamacpp"),
    "ollama": _chat_model("ollama"),
    "openai": _chat_model("openai"),
}

#: How each kind is written, for the unknown-translator message (a kind not listed: KIND:…).
USAGE = {"marian": "marian[:DIR] (the offline opus-mt models; make install-translator)",
         "llamacpp": "llamacpp:PATH.gguf", "ollama": "ollama:MODEL[@URL]", "openai": "openai:MODEL@BASE_URL"}


def register_translator(kind: str, factory: TranslatorFactory) -> None:
    """Make ``kind[:argument]`` a translator spec (plug-ins, tests' fake translators)."""
    TRANSLATORS[kind] = factory


def load_translator(spec: str) -> Translator:
    """The translator a spec names; a clear error for a kind no one registered."""
    kind, _, argument = spec.strip().partition(":")
    factory = TRANSLATORS.get(kind)
    if factory is None:
        forms = ", ".join(USAGE.get(k, f"{k}:…") for k in TRANSLATORS)
        raise RagError(f"Unknown translator {spec!r}. Use one of: {forms}.")
    return factory(argument)


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
