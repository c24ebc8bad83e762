"""The web chat over the news corpus (Gradio), served by ``rag serve`` or ``python ui.py``.

Layout and event wiring only; its styles and script are ``static/page.css`` and
``static/page.js`` (package data). Answers come from :class:`rag.Pipeline`; what the page
shows (escaped Markdown and HTML, highlights from offsets, filters, uploads) is built by
:mod:`rag.web.chatview`. The page's API exposes ``ask`` (question, earlier questions) →
the answer JSON (README.md#json-contract). Who may answer at once (questions
side by side, a language model one at a time, corpus changes one at a time beside them) is
:class:`rag.web.serving.Service`'s (docs/serving.md#who-answers-at-once).
"""

from __future__ import annotations

import asyncio
import contextlib
import html
import logging
import os
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import gradio as gr

from rag.answer.pipeline import Pipeline
from rag.errors import Cancelled, InputError, RagError
from rag.ingest.corpus import ARTICLE_FORMATS, SUPPORTED_SUFFIXES
from rag.ingest.report import Progress
from rag.types import Document
from rag.web import chatview as view
from rag.web.accounts import Access
from rag.web.serving import BusyError, Service, access_for, check_address
from rag.web.sessions import SessionGuard
from rag.web.throttle import SignInThrottle

log = logging.getLogger(__name__)

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


@contextlib.contextmanager
def _no_stub_files() -> Iterator[None]:
    """While the page's own components are defined: Gradio writes a ``.pyi`` stub beside
    the source of every component class it sees created (tooling for custom components);
    these three only change how a value is read, need none, and the package may be read-only."""
    from gradio import component_meta

    writer = component_meta.create_or_modify_pyi
    component_meta.create_or_modify_pyi = lambda *args, **kwargs: None
    try:
        yield
    finally:
        component_meta.create_or_modify_pyi = writer


with _no_stub_files():
    class Choices(gr.CheckboxGroup):
        """Ticked choices whose value from a client is never a traceback: anything but a list
        is none ticked, and a value that is not a choice (an article removed since the page
        was loaded) is left out. Gradio's own raises, and logs a traceback, for both."""

        is_template = True  # drawn by the browser as the component it extends

        def preprocess(self, payload: Any) -> list[Any]:
            if not isinstance(payload, list):
                return []
            known = {value for _, value in self.choices}
            return [v for v in payload if v in known]

    class Number(gr.Slider):
        """A slider whose value from a client is never a traceback: it goes to the event as
        sent, which checks it (:func:`rag.web.chatview.passages_to_read`); Gradio's own raises,
        and logs a traceback, for None or a value out of range."""

        is_template = True

        def preprocess(self, payload: Any) -> Any:
            return payload

    class Choice(gr.Dropdown):
        """One choice whose value from a client is never a traceback: anything but text is none,
        and text that is not a choice goes to the event, which says why it is refused (Gradio's
        own raises, and logs a traceback)."""

        is_template = True

        def preprocess(self, payload: Any) -> Any:
            return payload if isinstance(payload, str) else None


def build_app(pipeline: Pipeline | None = None, access: Access | None = None) -> gr.Blocks:
    """The page; loads the pipeline (models and index) now unless one is given. ``access``
    says who may do what (default: sign-in off, one local user who may do everything).

    Serve it with :func:`launch`, which also applies the page's styles and script and asks
    for a sign-in when ``access`` has accounts."""
    pipeline = pipeline or Pipeline.from_settings()
    access = access or Access(None)
    service = Service(pipeline.settings.generative_queue)
    if pipeline.settings.allow_private_urls and not access.read_only:
        log.warning("private addresses allowed (RAG_ALLOW_PRIVATE_URLS): pages an editor adds from the web may be "
                    "fetched from this machine and its local network")
    articles = pipeline.library.articles()
    drift = pipeline.library.drift()
    if drift:  # an upload whose ingest was killed, files copied in since: indexed in the background
        log.warning("%s", drift.describe("indexing them in the background; questions are answered "
                                         "from the index as it is meanwhile."))
        service.start(STARTUP_JOB, lambda progress: _logged(pipeline.library.ingest, progress), "startup-ingest")

    with gr.Blocks(title="newsrag", analytics_enabled=False) as app:
        state = gr.State(view.ChatState())
        with gr.Row(equal_height=True, elem_id="top"):
            gr.HTML(HEADER)
            account = _account_bar(access)
        with gr.Tabs():
            chat = _chat_tab(pipeline, articles)
            corpus = _corpus_tab(articles, drift.new, editing=access.accounts is None and not access.read_only)
        _wire_chat(pipeline, service, access, chat, state)
        _wire_corpus(pipeline, service, access, corpus, chat.article_filter, app)
        _wire_account(access, account, corpus, app)
        _wire_api(pipeline, service, access)
    return app


@dataclass
class _AccountBar:
    who: Any
    sign_out: Any


def _account_bar(access: Access) -> _AccountBar:
    """Who is signed in, and a way out (shown only when there are accounts)."""
    with gr.Column(scale=0, min_width=200, visible=access.accounts is not None, elem_id="account"):
        who = gr.Markdown(elem_id="signed-in-as")
        # Gradio's own route: forgets this browser's sign-in and shows the sign-in page again
        # (relative: the page may be served under a reverse proxy's path)
        sign_out = gr.Button("Sign out", link="logout", size="sm", elem_id="sign-out")
    return _AccountBar(who, sign_out)


def _wire_account(access: Access, bar: _AccountBar, corpus: _CorpusTab, app: gr.Blocks) -> None:
    """Each page load shows who is signed in, and the Corpus tab's controls to editors only
    (the actions also check the role themselves: a hidden control can still be called)."""

    def shown(request: gr.Request):
        name = _user_name(request)
        role = access.role(name)
        who = f"Signed in as **{view.escape_markdown(name or '')}** ({role or 'no account'})" \
            if access.accounts is not None else ""
        editing = access.may_edit(name)
        note = "" if editing else access.refusal(name)
        return who, gr.Row(visible=editing), gr.Markdown(note, visible=not editing)

    app.load(shown, None, [bar.who, corpus.editing, corpus.note], **PRIVATE)


def _asking(pipeline: Pipeline) -> dict[str, Any]:
    """Questions run side by side (up to serve_concurrency)."""
    return dict(concurrency_id="ask", concurrency_limit=pipeline.settings.serve_concurrency)


#: Uploads and removals run one at a time, beside the questions.
CHANGING: dict[str, Any] = dict(concurrency_id="corpus", concurrency_limit=1)
PRIVATE: dict[str, Any] = dict(api_visibility="private")


@dataclass
class _ChatTab:
    chatbot: Any
    question: Any
    send: Any
    examples: Any
    date_from: Any
    date_to: Any
    article_filter: Any
    k: Any
    reader: Any
    sources: Any
    viewer: Any


def _chat_tab(pipeline: Pipeline, articles: list[tuple[Document, int]]) -> _ChatTab:
    """The Chat tab's layout: the conversation, its filters and settings, the sources and
    the article viewer."""
    readers = view.reader_choices(pipeline)
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
            # a Dataset of its own, not gr.Examples: Gradio's handler behind it logs a
            # traceback for a call without a valid example
            examples = gr.Dataset(components=[question], samples=[[q] for q in EXAMPLES],
                                  label="Examples", type="index", elem_id="examples")
            with gr.Accordion("Filters", open=False, elem_id="filters"):
                with gr.Row():
                    date_from = gr.Textbox(label="From date", placeholder="YYYY-MM-DD",
                                           elem_id="date-from")
                    date_to = gr.Textbox(label="To date", placeholder="YYYY-MM-DD",
                                         elem_id="date-to")
                article_filter = Choices(
                    view.article_choices(articles), label="Only these articles",
                    info="None ticked: all articles.", elem_id="article-filter")
            with gr.Accordion("Settings", open=False, elem_id="settings"):
                k = Number(1, 8, value=min(8, max(1, pipeline.settings.top_k)), step=1,
                              label="Passages to read", elem_id="top-k",
                              info="How many retrieved passages the answer may draw on.")
                reader = Choice(
                    readers, value=pipeline.reader.name,
                    label="Reader (what writes the answer)",
                    interactive=len(readers) > 1, elem_id="reader")
        with gr.Column(scale=9, min_width=360):
            sources = gr.HTML(view.sources_panel([]), elem_id="sources", js_on_load=SOURCES_JS,
                              html_template='<div class="panel-title">Sources</div>${value}')
            viewer = gr.HTML(view.article_viewer([]), elem_id="viewer", js_on_load=None,
                             html_template='<div class="panel-title">Article</div>${value}')

    return _ChatTab(chatbot, question, send, examples, date_from, date_to, article_filter, k, reader,
                    sources, viewer)


@dataclass
class _CorpusTab:
    summary: Any
    table: Any
    editing: Any
    note: Any
    upload: Any
    upload_status: Any
    cancel: Any
    web_urls: Any
    web_feed: Any
    web_add: Any
    web_status: Any
    to_remove: Any
    remove: Any
    confirm: Any
    confirm_text: Any
    confirm_yes: Any
    confirm_no: Any
    remove_status: Any
    confirming: Any


def _corpus_tab(articles: list[tuple[Document, int]], pending: list[str], editing: bool) -> _CorpusTab:
    """The Corpus tab's layout: the articles, adding and removing them (``editing``: those
    controls shown from the start; else each page load shows them to editors only)."""
    with gr.Tab("Corpus", id="corpus-tab", elem_id="corpus-tab"):
        summary = gr.Markdown(view.corpus_summary(articles, pending), elem_id="corpus-summary")
        table = gr.Dataframe(
            view.corpus_rows(articles), headers=["Title", "Date", "Outlet", "Source file", "Chunks"],
            datatype=["str", "str", "str", "str", "number"], interactive=False, wrap=True,
            label="Articles", elem_id="corpus-table", column_widths=["46%", "10%", "14%", "22%", "8%"])
        note = gr.Markdown(visible=False, elem_id="corpus-note")
        with gr.Row(equal_height=False, visible=editing, elem_id="corpus-edit") as edit_row:
            with gr.Column():
                upload = gr.File(label=f"Add articles ({ARTICLE_FORMATS}): indexed at once", file_count="multiple",
                                 file_types=list(SUPPORTED_SUFFIXES), elem_id="upload",
                                 height=140)
                upload_status = gr.Markdown(elem_id="upload-status")
                cancel = gr.Button("Cancel the upload", variant="stop", visible=False,
                                   elem_id="cancel-upload")
            with gr.Column():
                web_urls = gr.Textbox(label="Add from the web: article addresses, one per line", lines=3,
                                      max_lines=8, placeholder="https://news.example.org/2021/06/16/geneva-summit",
                                      info=f"At most {view.MAX_WEB_URLS}; the server fetches each page and indexes "
                                           "its article.", elem_id="web-urls")
                web_feed = gr.Textbox(label="A feed (optional): its newest articles too", lines=1, max_lines=1,
                                      placeholder="https://news.example.org/rss.xml", elem_id="web-feed")
                web_add = gr.Button("Fetch and add", variant="secondary", elem_id="web-add")
                web_status = gr.Markdown(elem_id="web-status")
            with gr.Column():
                to_remove = Choice(view.article_choices(articles), value=None,
                                        label="Remove an article", elem_id="to-remove")
                remove = gr.Button("Remove…", variant="secondary", elem_id="remove")
                with gr.Group(visible=False, elem_id="confirm") as confirm:
                    confirm_text = gr.Markdown()
                    with gr.Row():
                        confirm_yes = gr.Button("Yes, remove it", variant="stop", elem_id="confirm-yes")
                        confirm_no = gr.Button("Cancel", elem_id="confirm-no")
                remove_status = gr.Markdown(elem_id="remove-status")
                # the article the session was asked to confirm (server side: an API
                # call to the removal cannot skip the question)
                confirming = gr.State(None)

    return _CorpusTab(summary, table, edit_row, note, upload, upload_status, cancel, web_urls, web_feed, web_add,
                      web_status, to_remove, remove, confirm, confirm_text, confirm_yes, confirm_no, remove_status,
                      confirming)


def _wire_chat(pipeline: Pipeline, service: Service, access: Access, tab: _ChatTab, state: Any) -> None:
    """What asking does: a question streamed into the chat, its sources beside it."""

    def respond(message: str, messages: list[dict[str, Any]], chat: view.ChatState,
                start: str, end: str, chosen: list[str], top_k: float, reader_name: str,
                request: gr.Request):
        skip = gr.skip()
        if not access.may_read(_user_name(request)):
            gr.Warning(html.escape(access.refusal(_user_name(request)), quote=False), title="Cannot ask")
            yield skip, skip, skip, skip, skip
            return
        try:
            filters = view.make_filters(start, end, chosen, [d.doc_id for d, _ in pipeline.library.articles()])
            chosen_pipeline = view.with_reader(pipeline, reader_name)
            updates = service.guarded(chosen_pipeline.reader, view.chat_turn(
                chosen_pipeline, message, chat if isinstance(chat, view.ChatState) else view.ChatState(),
                k=view.passages_to_read(top_k), filters=filters))
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
        yield messages, "", skip, *((first.sources, first.articles) if first.sources else (skip, skip))
        try:
            for update in updates:
                messages[-1] = _bot(update.markdown)
                if update.done:
                    yield messages, skip, chat, update.sources, update.articles
                else:
                    time.sleep(STREAM_PAUSE)
                    panels = (update.sources, update.articles) if update.sources else (skip, skip)
                    yield messages, skip, skip, *panels
        except Exception as exc:  # noqa: BLE001
            messages[-1] = _bot("⚠️ " + view.escape_markdown(view.friendly_error(exc)))
            yield messages, skip, skip, skip, skip

    # one wiring for the three ways a question is sent (Any: gradio's overloads differ per event)
    chat_io: dict[str, Any] = dict(fn=respond, inputs=[tab.question, tab.chatbot, state, tab.date_from, tab.date_to, tab.article_filter,
                                           tab.k, tab.reader],
                                   outputs=[tab.chatbot, tab.question, state, tab.sources, tab.viewer],
                                   api_visibility="private", **_asking(pipeline))
    tab.question.submit(**chat_io)
    tab.send.click(**chat_io)
    tab.examples.click(_example, [tab.examples], [tab.question], api_visibility="private", queue=False,
                   show_progress="hidden").then(**chat_io)
    tab.chatbot.clear(lambda: (view.ChatState(), view.sources_panel([]), view.article_viewer([])),
                  outputs=[state, tab.sources, tab.viewer], api_visibility="private")


def _wire_corpus(pipeline: Pipeline, service: Service, access: Access, tab: _CorpusTab, article_filter: Any,
                 app: gr.Blocks) -> None:
    """What the Corpus tab's controls do: uploads (cancellable), pages and feeds added from
    the web, removals (confirmed first), for editors only (:meth:`Access.may_edit`, checked
    by each action)."""

    def refused(request: gr.Request | None) -> str | None:
        """Why this user may not change the corpus (shown as a warning); None: they may."""
        name = _user_name(request)
        if access.may_edit(name):
            return None
        message = access.refusal(name)
        log.warning("corpus change refused to %s: %s", _who(name, access), message)
        gr.Warning(html.escape(message, quote=False), title="Not allowed")
        return "⚠️ " + view.escape_markdown(message)

    def refreshed(chosen: list[str] | None):
        listed = pipeline.library.articles()
        choices = view.article_choices(listed)
        ids = {doc_id for _, doc_id in choices}
        chosen = chosen if isinstance(chosen, list) else []
        return (view.corpus_summary(listed, pipeline.library.drift().new), view.corpus_rows(listed),
                gr.CheckboxGroup(choices=choices, value=[c for c in chosen if c in ids]),
                gr.Dropdown(choices=choices, value=None))

    def add(files: list[str] | None, chosen: list[str] | None, request: gr.Request,
            progress=gr.Progress()):  # noqa: B008 - gradio's own idiom
        skip = gr.skip()
        if not files:
            return skip, skip, skip, skip, skip, skip
        if (why := refused(request)) is not None:
            return why, None, skip, skip, skip, skip
        try:
            paths = view.uploaded_paths(files)
            job = service.start(_session(request), lambda report: view.upload_articles(
                pipeline, paths, [Path(f).name for f in paths], progress=report), "upload")
            result = job.wait(poll=lambda done, total, what: progress((done, total) if total else None,
                                                                       desc=what))
        except Cancelled:
            return view.UPLOAD_CANCELLED, None, skip, skip, skip, skip
        except Exception as exc:  # noqa: BLE001
            message = view.friendly_error(exc)
            gr.Warning(html.escape(message, quote=False), title="Upload failed")
            return "⚠️ " + view.escape_markdown(message), None, skip, skip, skip, skip
        if result.refused:
            gr.Warning(html.escape("; ".join(result.refused.values()), quote=False), title="Not added")
        return (result.message(), None, *refreshed(chosen))

    def cancel_upload(request: gr.Request):
        if refused(request) is not None:
            return gr.skip()
        if service.cancel(_session(request)):
            return "Cancelling the upload: it stops at its next step, and nothing of it is kept."
        return gr.skip()

    # the cancel button is shown while the upload's ingest runs
    (tab.upload.upload(lambda: (gr.Button(visible=True), view.UPLOAD_STARTED), None, [tab.cancel, tab.upload_status],
                   **PRIVATE)
     .then(add, [tab.upload, article_filter], [tab.upload_status, tab.upload, tab.summary, tab.table, article_filter, tab.to_remove],
           **PRIVATE, **CHANGING)
     .then(lambda: gr.Button(visible=False), None, [tab.cancel], **PRIVATE))
    tab.cancel.click(cancel_upload, None, [tab.upload_status], **PRIVATE)

    def add_web(urls: str | None, feed: str | None, chosen: list[str] | None, request: gr.Request,
                progress=gr.Progress()):  # noqa: B008 - gradio's own idiom
        skip = gr.skip()
        if (why := refused(request)) is not None:
            return why, skip, skip, skip, skip
        name = _user_name(request)
        try:  # a job of its own, as an upload's ingest, but not cancellable: what was fetched is kept
            job = service.start(_session(request), lambda report: view.add_from_web(
                pipeline, access, name, urls, feed, progress=report), "add-from-web", cancellable=False)
            result = job.wait(poll=lambda done, total, what: progress((done, total) if total else None,
                                                                       desc=what))
        except Exception as exc:  # noqa: BLE001
            message = view.friendly_error(exc)
            gr.Warning(html.escape(message, quote=False), title="Not added")
            return "⚠️ " + view.escape_markdown(message), skip, skip, skip, skip
        if not result.ok:
            gr.Warning(html.escape(result.report.summary(), quote=False), title="Not added")
        return (result.message(), *refreshed(chosen))

    tab.web_add.click(add_web, [tab.web_urls, tab.web_feed, article_filter],
                      [tab.web_status, tab.summary, tab.table, article_filter, tab.to_remove], **PRIVATE, **CHANGING)

    def ask_confirmation(doc_id: str | None, request: gr.Request):
        hidden = gr.Group(visible=False), "", None
        if refused(request) is not None:
            return hidden
        if not isinstance(doc_id, str) or not doc_id:
            gr.Warning("Choose the article to remove first.")
            return hidden
        try:
            doc = pipeline.document(doc_id)
        except RagError as exc:
            gr.Warning(html.escape(str(exc), quote=False))
            return hidden
        return gr.Group(visible=True), (f"Remove **{view.escape_markdown(doc.title or doc.source)}** "
                                        f"({view.escape_markdown(doc.source)}) from the corpus? "
                                        "The file is moved aside, not deleted."), doc_id

    def do_remove(doc_id: str | None, confirmed: str | None, chosen: list[str] | None, request: gr.Request,
                  progress=gr.Progress()):  # noqa: B008 - gradio's own idiom
        skip = gr.skip()
        hidden = gr.Group(visible=False)
        if (why := refused(request)) is not None:
            return why, hidden, None, skip, skip, skip, skip
        if not isinstance(doc_id, str) or not doc_id or doc_id != confirmed:  # never without its question
            return view.REMOVE_UNCONFIRMED, hidden, None, skip, skip, skip, skip
        try:
            message = view.remove_article(pipeline, doc_id,
                                          progress=lambda d, t, w: progress((d, t) if t else None, desc=w))
        except Exception as exc:  # noqa: BLE001
            return ("⚠️ " + view.escape_markdown(view.friendly_error(exc)), hidden, None,
                    skip, skip, skip, skip)
        return (message, hidden, None, *refreshed(chosen))

    tab.remove.click(ask_confirmation, [tab.to_remove], [tab.confirm, tab.confirm_text, tab.confirming], **PRIVATE)
    tab.confirm_no.click(lambda: (gr.Group(visible=False), None), outputs=[tab.confirm, tab.confirming], **PRIVATE)
    tab.confirm_yes.click(do_remove, [tab.to_remove, tab.confirming, article_filter],
                      [tab.remove_status, tab.confirm, tab.confirming, tab.summary, tab.table, article_filter, tab.to_remove],
                      **PRIVATE, **CHANGING)
    def loaded(request: gr.Request):
        """Each page load shows the corpus as it is now (an ingest may have run since the
        page was built), to whoever may read it."""
        if not access.may_read(_user_name(request)):
            return gr.skip(), gr.skip()
        return refreshed([])[:2]

    app.load(loaded, None, [tab.summary, tab.table], **PRIVATE)


def _wire_api(pipeline: Pipeline, service: Service, access: Access) -> None:
    """The page's API: ``ask`` (a question and the earlier ones) → the answer JSON; for
    editors, ``add_article``, ``add_url`` and ``remove_article``."""

    def ask(question: str, history: list[str] | None = None, request: gr.Request = None) -> dict[str, Any]:  # type: ignore[assignment]
        """Answer a question about the articles as a follow-up of `history` (the earlier
        questions, oldest first). Returns the answer JSON: question, answer (with [n]
        markers), abstained, language, citations (passage and quote with their offsets
        in the article), timings_ms."""
        if not access.may_read(_user_name(request)):
            raise gr.Error(html.escape(access.refusal(_user_name(request)), quote=False), print_exception=False)
        try:
            with service.answering(pipeline.reader):
                return pipeline.ask(question, history=history).to_dict()  # checked by validate_history
        except Exception as exc:  # noqa: BLE001
            raise gr.Error(html.escape(view.friendly_error(exc), quote=False), print_exception=False) from None

    def editing(request: gr.Request | None) -> None:
        name = _user_name(request)
        if not access.may_edit(name):
            log.warning("corpus change refused to %s through the API", _who(name, access))
            raise gr.Error(html.escape(access.refusal(name), quote=False), print_exception=False)

    def add_article(file_name: str, text: str, request: gr.Request = None) -> str:  # type: ignore[assignment]
        """Editors: add an article to the corpus, as a file named `file_name` (.txt, .md or
        .html) holding `text`, and index it. Returns what was done, in Markdown."""
        editing(request)
        try:
            result = view.add_article_text(pipeline, file_name, text)
        except Exception as exc:  # noqa: BLE001
            raise gr.Error(html.escape(view.friendly_error(exc), quote=False), print_exception=False) from None
        if result.refused:
            raise gr.Error(html.escape("; ".join(result.refused.values()), quote=False), print_exception=False)
        return result.message()

    def remove_article(doc_id: str, request: gr.Request = None) -> str:  # type: ignore[assignment]
        """Editors: take an article out of the corpus and the index (`doc_id` as in the
        answer JSON's citations); its file is moved to the corpus's .removed folder."""
        editing(request)
        try:
            return view.remove_article(pipeline, doc_id)
        except Exception as exc:  # noqa: BLE001
            raise gr.Error(html.escape(view.friendly_error(exc), quote=False), print_exception=False) from None

    def add_url(urls: str, feed: str = "", request: gr.Request = None) -> str:  # type: ignore[assignment]
        """Editors: fetch article pages (`urls`: web addresses, one per line, at most 20) and,
        when given, the newest articles of an RSS or Atom `feed` into the corpus, and index
        them. Returns a line per page (added, updated, unchanged, the same text as another
        address, failed and why), in Markdown; an error when none was stored and one failed.
        The server fetches only public addresses unless its operator allowed private ones."""
        editing(request)
        try:
            result = view.add_from_web(pipeline, access, _user_name(request), urls, feed)
        except Exception as exc:  # noqa: BLE001
            raise gr.Error(html.escape(view.friendly_error(exc), quote=False), print_exception=False) from None
        if not result.ok:
            raise gr.Error(html.escape(result.message(), quote=False), print_exception=False)
        return result.message()

    gr.api(ask, api_name="ask", **_asking(pipeline))
    gr.api(add_article, api_name="add_article", **CHANGING)
    gr.api(add_url, api_name="add_url", **CHANGING)
    gr.api(remove_article, api_name="remove_article", **CHANGING)


#: The key of the start-up ingest among the service's jobs (not a browser session's).
STARTUP_JOB = "start-up"


def _example(index: Any) -> Any:
    """The example question clicked (its index), or nothing for anything else."""
    if isinstance(index, int) and not isinstance(index, bool) and 0 <= index < len(EXAMPLES):
        return EXAMPLES[index]
    return gr.skip()


def _who(name: str | None, access: Access) -> str:
    """A user as the server's log names them."""
    return name or ("the local user" if access.accounts is None else "a signed-out user")


def _user_name(request: gr.Request | None) -> str | None:
    """The signed-in name of whoever sent ``request`` (None with sign-in off)."""
    return getattr(request, "username", None)


def _session(request: gr.Request | None) -> str:
    """The browser session a corpus change belongs to (what its cancel button reaches);
    never :data:`STARTUP_JOB`'s key, whatever session name a client sends."""
    return "session:" + (getattr(request, "session_hash", None) or "api")


def _logged(ingest: Callable[..., Any], progress: Progress) -> Any:
    """Run a background ingest nobody waits for, logging why it failed."""
    try:
        return ingest(progress=progress)
    except RagError as exc:
        log.warning("the background ingest failed: %s", exc)
        raise
    except Exception:
        log.exception("the background ingest failed")
        raise


def _user(text: str) -> dict[str, str]:
    return {"role": "user", "content": view.question_markdown(text)}


def _bot(markdown: str) -> dict[str, str]:
    return {"role": "assistant", "content": markdown}


SIGN_IN_MESSAGE = "Sign in with the account the server's operator gave you."


def _sign_in(access: Access, pipeline: Pipeline) -> dict[str, Any]:
    """``Blocks.launch`` options asking for a sign-in, when ``access`` has accounts."""
    accounts = access.accounts
    if accounts is None:
        return {}

    async def signed_in(name: str, password: str) -> bool:
        # argon2 takes ~50 ms of CPU on purpose: in a thread, not on the server's event loop
        return await asyncio.to_thread(accounts.verify, name, password)

    from starlette.middleware import Middleware

    throttle = Middleware(SignInThrottle, attempts=pipeline.settings.sign_in_attempts,
                          lockout=pipeline.settings.sign_in_lockout)
    guard = Middleware(SessionGuard, access=access)  # a removed account or changed password signs out
    return {"auth": signed_in, "auth_message": SIGN_IN_MESSAGE, "app_kwargs": {"middleware": [throttle, guard]}}


#: Gradio rebuilds a summary of its recent events after every event, a sixth of an answer's
#: CPU (benchmarks/README.md#gradio-event-analytics); /monitoring is off, so it is only
#: refreshed every this many events.
GRADIO_ANALYTICS_EVERY = "1000"


def launch(host: str = "127.0.0.1", port: int = 7860, pipeline: Pipeline | None = None,
           access: Access | None = None, **kw: Any) -> gr.Blocks:
    """Build the page and serve it on ``host:port`` (blocks until Ctrl+C unless
    ``prevent_thread_lock=True``); returns the running app (``app.close()`` stops it).
    ``access`` defaults to the settings' users file on this address
    (:func:`~rag.web.serving.access_for`: no accounts, no other address than loopback).
    With accounts, the page and its API ask for a sign-in (Gradio's), a client whose
    sign-ins keep failing is refused a while (:class:`SignInThrottle`), and a sign-in whose
    account was removed or whose password changed ends (:class:`SessionGuard`).
    Raises :class:`~rag.web.serving.ServeError` saying why when it cannot listen there."""
    check_address(host, port)
    os.environ.setdefault("GRADIO_ANALYTICS_CACHE_FREQUENCY", GRADIO_ANALYTICS_EVERY)
    pipeline = pipeline or Pipeline.from_settings()
    access = access or access_for(host, pipeline.settings.users)
    if pipeline.translator is not None:  # its ~10 s load, now rather than at a user's first answer
        threading.Thread(target=pipeline.translator.warm, name="translator-warm-up", daemon=True).start()
    app = build_app(pipeline, access)
    options = {**PAGE_OPTIONS, "footer_links": ["api"], "enable_monitoring": False,
               "state_session_capacity": pipeline.settings.serve_sessions,
               # Gradio's own upload route stores any file a signed-in client sends: at most
               # an article file's size (uploads are checked again before the corpus)
               "max_file_size": pipeline.settings.max_file_bytes, **_sign_in(access, pipeline), **kw}
    app.launch(server_name=host, server_port=port, **options)
    return app

