"""The web chat over the news corpus (Gradio): ``python ui.py`` or ``rag serve``.

Layout and event wiring only. Answers come from :class:`rag.Pipeline`; what the page
shows (escaped Markdown and HTML, highlights from offsets, filters, uploads) is built by
:mod:`rag.chatview`. The page's API exposes ``ask`` (question, earlier questions) →
the answer JSON (see the README's "Web chat" section).
"""

from __future__ import annotations

import html
import logging
import time
from pathlib import Path
from typing import Any

import gradio as gr

from rag import Pipeline, RagError
from rag import chatview as view
from rag.errors import InputError

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

CSS = """
.gradio-container { max-width: 1440px !important; margin: 0 auto !important; }
.brand h1 { font-size: 1.6rem; font-weight: 750; margin: 0 0 2px; letter-spacing: -0.01em; }
.brand p { margin: 0; color: var(--body-text-color-subdued); }
.cite-sample, #chat a.cite {
  font-weight: 650; text-decoration: none; color: var(--color-accent); padding: 0 3px;
  border-radius: 4px; background: var(--color-accent-soft); cursor: pointer; white-space: nowrap;
}
#chat a.cite:hover { text-decoration: underline; }
.panel-title { font-weight: 650; margin: 2px 0 6px; font-size: 0.95rem; }
.sources, .viewer {
  position: relative; overflow-y: auto; border: 1px solid var(--border-color-primary);
  border-radius: 10px; padding: 10px 12px; background: var(--background-fill-secondary);
}
.sources { max-height: 40vh; }
.viewer { max-height: 34vh; }
.sources .placeholder, .viewer .placeholder, .no-sources { color: var(--body-text-color-subdued); margin: 4px 0; }
.sources .turn { display: none; }
.sources .turn.current { display: block; }
.turn-head { font-size: 0.85rem; color: var(--body-text-color-subdued); margin-bottom: 6px; }
.source {
  border: 1px solid var(--border-color-primary); border-radius: 8px; padding: 10px 12px;
  margin: 0 0 10px; background: var(--background-fill-primary); transition: box-shadow .15s;
}
.source.active { border-color: var(--color-accent); box-shadow: 0 0 0 2px var(--color-accent-soft); }
.source header, .article header { line-height: 1.35; }
.num { color: var(--color-accent); font-weight: 700; margin-right: 2px; }
.source .title, .article .title { font-weight: 700; }
.meta { color: var(--body-text-color-subdued); font-size: 0.82rem; margin-top: 2px; }
.source blockquote.passage {
  position: relative; max-height: 10.5em; overflow-y: auto; margin: 8px 0; padding: 0 6px 0 10px;
  border-left: 3px solid var(--border-color-primary); font-size: 0.9rem; line-height: 1.5;
  color: var(--body-text-color);
}
.sources mark, .viewer mark { background: #fde68a; color: #1f2937; padding: 1px 2px; border-radius: 3px; }
/* one selector per rule: Gradio's scoping of .dark breaks selector lists */
.dark .sources mark { background: #a16207; color: #fff; }
.dark .viewer mark { background: #a16207; color: #fff; }
button.open-article {
  font-size: 0.82rem; padding: 3px 10px; border-radius: 6px; cursor: pointer;
  border: 1px solid var(--border-color-primary); background: var(--background-fill-secondary);
  color: var(--body-text-color);
}
button.open-article:hover { border-color: var(--color-accent); color: var(--color-accent); }
.viewer .article header { position: sticky; top: -10px; z-index: 1; background: var(--background-fill-secondary);
  margin: -10px -12px 8px; padding: 10px 12px 8px; border-bottom: 1px solid var(--border-color-primary); }
.viewer .article-text { font-size: 0.92rem; line-height: 1.6; }
.viewer span.passage { background: var(--color-accent-soft); border-radius: 3px; padding: 1px 0; }
#corpus-table, #corpus-table table, #corpus-table td, #corpus-table th, #corpus-table span {
  font-family: var(--font); color: var(--body-text-color); }
"""

#: Clicking a [n] marker, or a card's "Open article" button: show that answer's sources,
#: mark the card active, open its article in the viewer scrolled to the passage.
HEAD = """<script>
(() => {
  if (window.newsrag) return;
  // Scroll only inside `box` (never the window) so that `el` shows `offset` px below its top;
  // when `focus` would then fall below the fold, bring it up to a quarter of the box below `offset`.
  function reveal(box, el, offset, focus) {
    const top = () => box.getBoundingClientRect().top;
    box.scrollTop += el.getBoundingClientRect().top - top() - offset;
    if (focus && focus.getBoundingClientRect().bottom > top() + box.clientHeight) {
      box.scrollTop += focus.getBoundingClientRect().top - top() - offset - (box.clientHeight - offset) / 4;
    }
  }
  // Each source card's passage box is short: scroll it to its highlighted quote.
  function centerQuotes(root) {
    (root || document).querySelectorAll('.sources .turn.current blockquote.passage').forEach((q) => {
      const mark = q.querySelector('mark');
      if (!mark || !q.clientHeight) return;
      const m = mark.getBoundingClientRect();
      q.scrollTop += m.top - q.getBoundingClientRect().top - Math.max(6, (q.clientHeight - m.height) / 2);
    });
  }
  function openSource(turn, n) {
    const panel = document.querySelector('.sources');
    const viewer = document.querySelector('.viewer');
    const card = document.getElementById(`src-${turn}-${n}`);
    if (!panel || !viewer || !card) return;
    panel.querySelectorAll('.turn').forEach(
      (t) => t.classList.toggle('current', t.dataset.turn === String(turn)));
    panel.querySelectorAll('.source.active').forEach((c) => c.classList.remove('active'));
    card.classList.add('active');
    centerQuotes(panel);
    reveal(panel, card, 8);
    viewer.querySelectorAll('.article').forEach((a) => { a.hidden = a.id !== `art-${turn}-${n}`; });
    viewer.querySelectorAll('.placeholder').forEach((p) => { p.hidden = true; });
    const article = document.getElementById(`art-${turn}-${n}`);
    const passage = document.getElementById(`passage-${turn}-${n}`);
    if (article && passage) {
      const head = article.querySelector('header');
      reveal(viewer, passage, (head ? head.offsetHeight : 0) + 12, passage.querySelector('mark'));
    }
    const box = panel.getBoundingClientRect();
    if (box.bottom < 0 || box.top > window.innerHeight) panel.scrollIntoView({block: 'start'});
  }
  window.newsrag = {openSource, centerQuotes};
  document.addEventListener('click', (event) => {
    const el = event.target.closest && event.target.closest('a.cite, button.open-article');
    if (!el) return;
    let turn = el.dataset.turn, n = el.dataset.n;
    if (el.matches('a.cite')) {
      const m = /^#src-(\\d+)-(\\d+)$/.exec(el.getAttribute('href') || '');
      if (!m) return;
      [turn, n] = [m[1], m[2]];
    }
    event.preventDefault();
    event.stopPropagation();
    openSource(turn, n);
  }, true);
})();
</script>"""

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
                updates = view.chat_turn(view.with_reader(pipeline, reader_name), message, chat,
                                         k=int(top_k), filters=filters)
                first = next(updates)
            except InputError as exc:  # nothing asked: say why, keep the text to fix it
                gr.Warning(html.escape(str(exc), quote=False), title="Cannot ask this")
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

        chat_io = dict(fn=respond, inputs=[question, chatbot, state, date_from, date_to, article_filter, k, reader],
                       outputs=[chatbot, question, state, sources, viewer], concurrency_id="pipeline",
                       concurrency_limit=1, api_visibility="undocumented")
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
                      concurrency_id="pipeline", concurrency_limit=1, api_visibility="undocumented")

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
                          concurrency_id="pipeline", concurrency_limit=1, api_visibility="undocumented")

        # ---- API ------------------------------------------------------------------------

        def ask(question: str, history: list[str] | None = None) -> dict[str, Any]:
            """Answer a question about the articles as a follow-up of `history` (the earlier
            questions, oldest first). Returns the answer JSON: question, answer (with [n]
            markers), abstained, language, citations (passage and quote with their offsets
            in the article), timings_ms."""
            try:
                return pipeline.ask(question, history=[h for h in history or [] if h]).to_dict()
            except Exception as exc:  # noqa: BLE001
                raise gr.Error(html.escape(view.friendly_error(exc), quote=False), print_exception=False) from None

        gr.api(ask, api_name="ask", concurrency_id="pipeline", concurrency_limit=1)

    return app


def _user(text: str) -> dict[str, str]:
    return {"role": "user", "content": view.question_markdown(text)}


def _bot(markdown: str) -> dict[str, str]:
    return {"role": "assistant", "content": markdown}


def launch(host: str = "127.0.0.1", port: int = 7860, pipeline: Pipeline | None = None,
           **kw: Any) -> gr.Blocks:
    """Build the page and serve it on ``host:port`` (blocks until Ctrl+C unless
    ``prevent_thread_lock=True``); returns the running app (``app.close()`` stops it)."""
    app = build_app(pipeline)
    options = {**PAGE_OPTIONS, "footer_links": ["api"], **kw}
    app.launch(server_name=host, server_port=port, **options)
    return app


if __name__ == "__main__":
    import sys

    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    try:
        launch()
    except RagError as exc:
        sys.exit(f"error: {exc}")
