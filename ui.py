"""A minimal web chat over the news corpus (Gradio): ``rag serve``, or ``python ui.py``.

Layout and wiring only: every answer comes from :meth:`rag.Pipeline.ask`. Article text
is HTML-escaped before it goes into the chat's Markdown, so an article holding
``<script>`` shows it as text instead of running it.
"""

from __future__ import annotations

import html
import logging
import re
from typing import Any

import gradio as gr

from rag import Answer, Pipeline, RagError

log = logging.getLogger(__name__)

EXAMPLES = [
    "When was New START extended?",
    "Quand a eu lieu le sommet de Genève ?",
    "Who is the Kremlin spokesman?",
]

_MARKDOWN_SPECIALS = re.compile(r"([\\`*_{}\[\]()#+!|~$])")


def escape(text: str | None) -> str:
    """Article text made inert: HTML-escaped, and Markdown markup (links, emphasis, code)
    shown as typed."""
    return html.escape(_MARKDOWN_SPECIALS.sub(r"\\\1", text or ""))


def format_answer(answer: Answer) -> str:
    """The answer, then a Markdown list of its sources, each with its quote."""
    # The answer's [n] markers are ours: escaped like the rest, they still read [n].
    parts = [escape(answer.answer)]
    if answer.citations:
        parts.append("**Sources**")
        for c in answer.citations:
            meta = ", ".join(escape(x) for x in (c.outlet, c.date) if x)
            head = f"\\[{c.n}\\] {escape(c.title or c.doc_id)}"
            head += f" — {meta}" if meta else ""
            head += f" ({escape(c.source)})"
            quote = "\n".join(f"  > {escape(line)}" for line in c.quote.splitlines() if line.strip())
            parts.append(f"- {head}\n\n{quote}")
    return "\n\n".join(parts)


def _text(content: Any) -> str:
    """The text of a chat message's content, whatever shape Gradio gives it
    (a string, a ``{"type": "text", "text": ...}`` part, or a list of parts)."""
    if isinstance(content, str):
        return content
    if isinstance(content, dict):
        return (content.get("text") or "") if content.get("type", "text") == "text" else ""
    if isinstance(content, (list, tuple)):
        return " ".join(t for t in (_text(c) for c in content) if t)
    return ""


def build_app(pipeline: Pipeline | None = None) -> gr.Blocks:
    """The chat page; loads the pipeline (models and index) now unless one is given."""
    pipeline = pipeline or Pipeline.from_settings()

    def respond(message: str, history: list[dict[str, Any]]) -> str:
        asked = [_text(m.get("content")) for m in history if m.get("role") == "user"]
        try:
            answer = pipeline.ask(message, history=[q for q in asked if q.strip()])
        except RagError as exc:
            return f"⚠️ {escape(str(exc))}"
        except Exception:  # never show a traceback in the page; the server log has it
            log.exception("answering %r failed", message)
            return "⚠️ Something went wrong while answering. The server log has the details."
        return format_answer(answer)

    return gr.ChatInterface(
        respond,
        chatbot=gr.Chatbot(label="newsrag", latex_delimiters=[], height="70vh"),
        examples=EXAMPLES,
        title="newsrag",
        description="Cited answers from a folder of news articles, in English or French — offline.",
        api_name="chat",
        analytics_enabled=False,
    )


def launch(host: str = "127.0.0.1", port: int = 7860, pipeline: Pipeline | None = None,
           **kw: Any) -> None:
    """Build the page and serve it (blocks until Ctrl+C unless ``prevent_thread_lock=True``)."""
    build_app(pipeline).launch(server_name=host, server_port=port, **kw)


if __name__ == "__main__":
    import sys

    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    try:
        launch()
    except RagError as exc:
        sys.exit(f"error: {exc}")
