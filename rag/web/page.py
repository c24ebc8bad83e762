"""The web chat over the news corpus (Gradio), served by ``rag serve`` or ``python ui.py``.

Layout and event wiring only; its styles and script are ``static/page.css`` and
``static/page.js`` (package data). Answers come from :class:`rag.Pipeline`; what the page
shows (escaped Markdown and HTML, highlights from offsets, filters, uploads) is built by
:mod:`rag.chatview`. The page's API exposes ``ask`` (question, earlier questions) →
the answer JSON (see the README's "Web chat" section). Who may answer at once (questions
side by side, a language model one at a time, corpus changes alone) is
:class:`rag.web.serving.Service`'s (README, "Many users").
"""

from __future__ import annotations

import html
import os
import threading
import time
from importlib import resources
from pathlib import Path
from typing import Any

import gradio as gr

from .. import chatview as view
from ..errors import InputError, RagError
from ..pipeline import Pipeline
from .serving import BusyError, Service, check_address

EXAMPLES = [
    "When was New START extended?",
    "Quand a eu lieu le sommet de Genève ?",
    "Who is the Kremlin spokesman?",
    "Qu’a dit le Kremlin sur l’administration Biden ?",
]

#: Seconds between two streamed steps of an answer (so the text visibly grows).
STREAM_PAUSE = 0.02

HEADER = """<div class="brand"><h1>newsrag</h1>
<p>Ask about the news articles, in English or French. Every claim is quoted from an article and
cited <span class="cite-sample">[n]</span>: click a marker to see the passage it comes from.</p></div>"""

CHAT_PLACEHOLDER = ("**Ask a question about the articles**, in English or in French.  \n"
                    "Answers quote the articles; each [n] opens its source on the right.")


def _static(name: str) -> str:
    return resources.files(__package__).joinpath("static", name).read_text(encoding="utf-8")


CSS = _static("page.css")
#: Clicking a [n] marker, or a card's "Open article" button (see static/page.js).
HEAD = f"<script>\n{_static('page.js')}</script>"

#: Run by the sources panel each time it is re-rendered (a new answer's sources).
SOURCES_JS = "watch('value', () => window.newsrag && window.newsrag.centerQuotes(element));"

THEME = gr.themes.Soft(
    primary_hue="indigo", neutral_hue="slate",
    # system fonts: the page loads nothing from the internet
    font=["ui-sans-serif", "system-ui", "-apple-system", "Segoe UI", "Roboto", "sans-serif"],
    font_mono=["ui-monospace", "SFMono-Regular", "Menlo", "monospace"],
)

#: What :func:`launch` hands to ``Blocks.launch`` (Gradio 6 takes the look there).
PAGE_OPTIONS: dict[str, Any] = {"css": CSS, "head": HEAD, "theme": THEME}


def build_app(pipeline: Pipeline | None = None) -> gr.Blocks:
    """The page; loads the pipeline (models and index) now unless one is given.

    Serve it with :func:`launch`, which also applies the page's styles and script."""
    pipeline = pipeline or Pipeline.from_settings()
    service = Service(pipeline.settings.generative_queue)
    # questions run side by side (up to serve_concurrency); uploads and removals one at a time
    asking: dict[str, Any] = dict(concurrency_id="ask", concurrency_limit=pipeline.settings.serve_concurrency)
    changing: dict[str, Any] = dict(concurrency_id="corpus", concurrency_limit=1)
    readers = view.reader_choices(pipeline)
    articles = pipeline.articles()

    with gr.Blocks(title="newsrag", analytics_enabled=False) as app:
        state = gr.State(view.ChatState())
        gr.HTML(HEADER)
        with gr.Tabs():
            with gr.Tab("Chat", id="chat-tab", elem_id="chat-tab"), gr.Row(equal_height=False):
                with gr.Column(scale=11, min_width=420):
                    chatbot = gr.Chatbot(
                        label="Chat", show_label=False, elem_id="chat", height="60vh",
                        latex_delimiters=[], buttons=[], feedback_options=None,
                        placeholder=CHAT_PLACEHOLDER, sanitize_html=True)
                    with gr.Row(equal_height=True):
                        question = gr.Textbox(
                            show_label=False, container=False, scale=8, lines=1, max_lines=4,
                            placeholder="Ask about the articles, in English or French…",
                            elem_id="question")
                        send = gr.Button("Send", variant="primary", scale=1, min_width=90,
                                         elem_id="send")
                    examples = gr.Examples(EXAMPLES, inputs=[question], label="Examples")
                    with gr.Accordion("Filters", open=False, elem_id="filters"):
                        with gr.Row():
                            date_from = gr.Textbox(label="From date", placeholder="YYYY-MM-DD",
                                                   elem_id="date-from")
                            date_to = gr.Textbox(label="To date", placeholder="YYYY-MM-DD",
                                                 elem_id="date-to")
                        article_filter = gr.CheckboxGroup(
                            view.article_choices(articles), label="Only these articles",
                            info="None ticked: all articles.", elem_id="article-filter")
                    with gr.Accordion("Settings", open=False, elem_id="settings"):
                        k = gr.Slider(1, 8, value=min(8, max(1, pipeline.settings.top_k)), step=1,
                                      label="Passages to read", elem_id="top-k",
                                      info="How many retrieved passages the answer may draw on.")
                        reader = gr.Dropdown(
                            readers, value=pipeline.reader.name,
                            label="Reader (what writes the answer)",
                            interactive=len(readers) > 1, elem_id="reader")
                with gr.Column(scale=9, min_width=360):
                    sources = gr.HTML(view.sources_panel([]), elem_id="sources", js_on_load=SOURCES_JS,
                                      html_template='<div class="panel-title">Sources</div>${value}')
                    viewer = gr.HTML(view.article_viewer([]), elem_id="viewer", js_on_load=None,
                                     html_template='<div class="panel-title">Article</div>${value}')

            with gr.Tab("Corpus", id="corpus-tab", elem_id="corpus-tab"):
                summary = gr.Markdown(view.corpus_summary(articles), elem_id="corpus-summary")
                table = gr.Dataframe(
                    view.corpus_rows(articles), headers=["Title", "Date", "Outlet", "Source file", "Chunks"],
                    datatype=["str", "str", "str", "str", "number"], interactive=False, wrap=True,
                    label="Articles", elem_id="corpus-table", column_widths=["46%", "10%", "14%", "22%", "8%"])
                with gr.Row(equal_height=False):
                    with gr.Column():
                        upload = gr.File(label="Add articles (.txt, .md, .html)", file_count="multiple",
                                         file_types=[".txt", ".md", ".html", ".htm"], elem_id="upload",
                                         height=140)
                        upload_status = gr.Markdown(elem_id="upload-status")
                    with gr.Column():
                        to_remove = gr.Dropdown(view.article_choices(articles), value=None,
                                                label="Remove an article", elem_id="to-remove")
                        remove = gr.Button("Remove…", variant="secondary", elem_id="remove")
                        with gr.Group(visible=False, elem_id="confirm") as confirm:
                            confirm_text = gr.Markdown()
                            with gr.Row():
                                confirm_yes = gr.Button("Yes, remove it", variant="stop", elem_id="confirm-yes")
                                confirm_no = gr.Button("Cancel", elem_id="confirm-no")
                        remove_status = gr.Markdown(elem_id="remove-status")

        # ---- chat ---------------------------------------------------------------------

        def respond(message: str, messages: list[dict[str, Any]], chat: view.ChatState,
                    start: str, end: str, chosen: list[str], top_k: float, reader_name: str):
            skip = gr.skip()
            try:
                filters = view.make_filters(start, end, chosen, [d.doc_id for d, _ in pipeline.articles()])
                chosen_pipeline = view.with_reader(pipeline, reader_name)
                updates = service.guarded(chosen_pipeline.reader, view.chat_turn(
                    chosen_pipeline, message, chat, k=int(top_k), filters=filters))
                first = next(updates)
            except (InputError, BusyError) as exc:  # nothing asked: say why, keep the text to ask again
                gr.Warning(html.escape(str(exc), quote=False),
                           title="Busy" if isinstance(exc, BusyError) else "Cannot ask this")
                yield skip, skip, skip, skip, skip
                return
            except Exception as exc:  # noqa: BLE001 — shown as a message, logged when unexpected
                messages = messages + [_user(message), _bot("⚠️ " + view.escape_markdown(view.friendly_error(exc)))]
                yield messages, "", skip, skip, skip
                return
            messages = messages + [_user(message), _bot(first.markdown)]
            yield messages, "", skip, skip, skip
            try:
                for update in updates:
                    messages[-1] = _bot(update.markdown)
                    if update.done:
                        yield messages, skip, chat, update.sources, update.articles
                    else:
                        time.sleep(STREAM_PAUSE)
                        yield messages, skip, skip, skip, skip
            except Exception as exc:  # noqa: BLE001
                messages[-1] = _bot("⚠️ " + view.escape_markdown(view.friendly_error(exc)))
                yield messages, skip, skip, skip, skip

        # one wiring for the three ways a question is sent (Any: gradio's overloads differ per event)
        chat_io: dict[str, Any] = dict(fn=respond, inputs=[question, chatbot, state, date_from, date_to, article_filter, k, reader],
                                       outputs=[chatbot, question, state, sources, viewer],
                                       api_visibility="undocumented", **asking)
        question.submit(**chat_io)
        send.click(**chat_io)
        examples.load_input_event.then(**chat_io)
        chatbot.clear(lambda: (view.ChatState(), view.sources_panel([]), view.article_viewer([])),
                      outputs=[state, sources, viewer], api_visibility="undocumented")

        # ---- corpus ---------------------------------------------------------------------

        def refreshed(chosen: list[str] | None):
            listed = pipeline.articles()
            choices = view.article_choices(listed)
            ids = {doc_id for _, doc_id in choices}
            return (view.corpus_summary(listed), view.corpus_rows(listed),
                    gr.CheckboxGroup(choices=choices, value=[c for c in chosen or [] if c in ids]),
                    gr.Dropdown(choices=choices, value=None))

        def add(files: list[str] | None, chosen: list[str], progress=gr.Progress()):  # noqa: B008 - gradio's own idiom
            if not files:
                return gr.skip(), gr.skip(), gr.skip(), gr.skip(), gr.skip(), gr.skip()
            try:
                with service.changing_corpus():
                    result = view.upload_articles(pipeline, files, [Path(f).name for f in files],
                                                  progress=lambda done, total, what: progress((done, total), desc=what))
            except Exception as exc:  # noqa: BLE001
                message = view.friendly_error(exc)
                gr.Warning(html.escape(message, quote=False), title="Upload failed")
                return "⚠️ " + view.escape_markdown(message), None, gr.skip(), gr.skip(), gr.skip(), gr.skip()
            if result.refused:
                gr.Warning(html.escape("; ".join(result.refused.values()), quote=False), title="Not added")
            return (result.message(), None, *refreshed(chosen))

        upload.upload(add, [upload, article_filter], [upload_status, upload, summary, table, article_filter, to_remove],
                      api_visibility="undocumented", **changing)

        def ask_confirmation(doc_id: str | None):
            if not doc_id:
                gr.Warning("Choose the article to remove first.")
                return gr.Group(visible=False), ""
            try:
                doc = pipeline.document(doc_id)
            except RagError as exc:
                gr.Warning(html.escape(str(exc), quote=False))
                return gr.Group(visible=False), ""
            return gr.Group(visible=True), (f"Remove **{view.escape_markdown(doc.title or doc.source)}** "
                                            f"({view.escape_markdown(doc.source)}) from the corpus? "
                                            "The file is moved aside, not deleted.")

        def do_remove(doc_id: str | None, chosen: list[str], progress=gr.Progress()):  # noqa: B008 - gradio's own idiom
            try:
                with service.changing_corpus():
                    message = view.remove_article(pipeline, doc_id or "",
                                                  progress=lambda d, t, w: progress((d, t), desc=w))
            except Exception as exc:  # noqa: BLE001
                return ("⚠️ " + view.escape_markdown(view.friendly_error(exc)), gr.Group(visible=False),
                        gr.skip(), gr.skip(), gr.skip(), gr.skip())
            return (message, gr.Group(visible=False), *refreshed(chosen))

        remove.click(ask_confirmation, [to_remove], [confirm, confirm_text], api_visibility="undocumented")
        confirm_no.click(lambda: gr.Group(visible=False), outputs=[confirm], api_visibility="undocumented")
        confirm_yes.click(do_remove, [to_remove, article_filter],
                          [remove_status, confirm, summary, table, article_filter, to_remove],
                          api_visibility="undocumented", **changing)

        # ---- API ------------------------------------------------------------------------

        def ask(question: str, history: list[str] | None = None) -> dict[str, Any]:
            """Answer a question about the articles as a follow-up of `history` (the earlier
            questions, oldest first). Returns the answer JSON: question, answer (with [n]
            markers), abstained, language, citations (passage and quote with their offsets
            in the article), timings_ms."""
            try:
                with service.answering(pipeline.reader):
                    return pipeline.ask(question, history=history).to_dict()  # checked by validate_history
            except Exception as exc:  # noqa: BLE001
                raise gr.Error(html.escape(view.friendly_error(exc), quote=False), print_exception=False) from None

        gr.api(ask, api_name="ask", **asking)

    return app


def _user(text: str) -> dict[str, str]:
    return {"role": "user", "content": view.question_markdown(text)}


def _bot(markdown: str) -> dict[str, str]:
    return {"role": "assistant", "content": markdown}


#: Gradio rebuilds a pandas summary of its recent events (for its /monitoring page) after
#: every event unless told to do it less often: 7–15 ms of CPU per answer here
#: (2026-11-26), a sixth of an answer's. The page turns /monitoring off (it was served
#: without a login), so the summary is only refreshed every this many events.
GRADIO_ANALYTICS_EVERY = "1000"


def launch(host: str = "127.0.0.1", port: int = 7860, pipeline: Pipeline | None = None,
           **kw: Any) -> gr.Blocks:
    """Build the page and serve it on ``host:port`` (blocks until Ctrl+C unless
    ``prevent_thread_lock=True``); returns the running app (``app.close()`` stops it).
    Raises :class:`~rag.web.serving.ServeError` saying why when it cannot listen there."""
    check_address(host, port)
    os.environ.setdefault("GRADIO_ANALYTICS_CACHE_FREQUENCY", GRADIO_ANALYTICS_EVERY)
    pipeline = pipeline or Pipeline.from_settings()
    if pipeline.translator is not None:  # its ~10 s load, now rather than at a user's first answer
        threading.Thread(target=pipeline.translator.warm, name="translator-warm-up", daemon=True).start()
    app = build_app(pipeline)
    options = {**PAGE_OPTIONS, "footer_links": ["api"], "enable_monitoring": False,
               "state_session_capacity": pipeline.settings.serve_sessions, **kw}
    app.launch(server_name=host, server_port=port, **options)
    return app

