"""A translator that asks a chat model (``llamacpp:PATH.gguf``, ``ollama:…``, ``openai:…``)."""

from __future__ import annotations

import logging
from typing import Any

from rag.answer.translation.base import Translator
from rag.lang import LANGUAGE_NAMES

log = logging.getLogger(__name__)

PROMPT = ("Translate this {source} sentence from a news article into {target}. Keep every name, "
          "date and number. Reply with the translation only.\n\n{text}")


class ChatModelTranslator(Translator):
    """Translates one quote with a LangChain chat model (deterministic settings)."""

    def __init__(self, chat_model: Any, name: str) -> None:
        self.chat_model = chat_model
        self.name = name

    def translate(self, text: str, source: str, target: str) -> str | None:
        """The translation of ``text``, or None when the model fails or returns nothing."""
        from langchain_core.messages import HumanMessage

        prompt = PROMPT.format(source=LANGUAGE_NAMES.get(source, source),
                               target=LANGUAGE_NAMES.get(target, target), text=text)
        try:
            reply = self.chat_model.invoke([HumanMessage(prompt)]).content
        except Exception as exc:  # a model server down, a broken model file...
            log.warning("the %s translator failed (%s)", self.name, exc)
            return None
        out = (reply if isinstance(reply, str) else str(reply)).strip()
        out = out.splitlines()[0].strip().strip('"«»“”').strip() if out else ""
        return out or None
