"""What the web chat shows, as safe HTML and Markdown — the page's logic, kept out of
:mod:`rag.web` (which only lays out components and wires events).

Every piece of text that comes from an article or a user is escaped here before it
reaches the page: an article holding ``<script>`` or ``<img onerror=…>`` shows it as
text. Highlights come from the citations' character offsets (:mod:`rag.web.highlight`),
never from searching for the quote again.

Ids tie the page together: in answer number ``turn`` of a chat, marker ``[n]`` links to
``#src-{turn}-{n}`` (its source card in the sources panel); the card's "Open article"
button and the marker both open ``art-{turn}-{n}`` in the article viewer, scrolled to
``passage-{turn}-{n}``.

>>> from rag.types import Answer, Citation
>>> c = Citation(1, "a.txt", "a.txt", "<Titre>", "2021-01", None, "x", 0, 1, "x", 0, 1, 0.8256)
>>> answer_markdown(Answer("q", "Selon *a* [1]: «<b>x</b>»", False, "fr", [c]), turn=0)
'Selon \\\\*a\\\\* <a href="#src-0-1" class="cite" title="Source 1: &lt;Titre&gt;">[1]</a>: «&lt;b&gt;x&lt;/b&gt;»'
"""

from __future__ import annotations

import contextlib
import html
import logging
import os
import re
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

from rag.answer.citations import markers
from rag.answer.pipeline import Pipeline
from rag.answer.readers import available_readers
from rag.answer.validation import validate_question
from rag.errors import Cancelled, CorpusError, InputError, RagError
from rag.ingest.corpus import ARTICLE_FORMATS, add_files
from rag.ingest.formats import BINARY_SUFFIXES
from rag.ingest.report import IngestReport, Progress
from rag.ingest.uploads import check_upload
from rag.lang.dates import format_date
from rag.types import Answer, Document, Filters
from rag.urls import web_url
from rag.web.accounts import Access
from rag.web.highlight import article_html, citation_html

if TYPE_CHECKING:
    from rag.sources.collect import AddReport

log = logging.getLogger(__name__)

#: Shown instead of a traceback when something unexpected fails (the log has the details).
GENERIC_ERROR = "Something went wrong while answering. The server log has the details; please try again."
#: The sources panel of an answer without citations.
NO_SOURCES = "No sources: the articles do not answer this."
SOURCES_PLACEHOLDER = "Ask a question: the passages its answer quotes appear here, the quote highlighted."
VIEWER_PLACEHOLDER = "Click a citation [n] or “Open article” to read the whole article here."
#: Answers whose sources stay on the page (older markers then say so instead of opening).
KEEP_TURNS = 20
#: Words added at each step when a fast reader's answer is shown growing.
STREAM_WORDS = 3

_MARKDOWN_SPECIALS = re.compile(r"([\\`*_{}\[\]()#+!|~$-])")
_MARKER = re.compile(r"\\\[(\d+)\\\]")  # a [n] marker once escaped for Markdown
# a bracketed number quoted from an article (rag.answer.citations.defuse: "\[7\]") once escaped for Markdown
_LITERAL = re.compile(r"\\\\\\\[(\d+)\\\\\\\]")
_DATE = re.compile(r"^(\d{4})(?:-(\d{2})(?:-(\d{2}))?)?$")


# --------------------------------------------------------------------------- text


def escape_markdown(text: str | None) -> str:
    """Text made inert for the chat's Markdown: HTML-escaped, and Markdown markup
    (links, emphasis, code, headings, lists) shown as typed.

    >>> escape_markdown('<img src=x onerror="x()"> *bold* [link](u)')
    '&lt;img src=x onerror=&quot;x\\\\(\\\\)&quot;&gt; \\\\*bold\\\\* \\\\[link\\\\]\\\\(u\\\\)'
    """
    return html.escape(_MARKDOWN_SPECIALS.sub(r"\\\1", text or ""))


def answer_markdown(answer: Answer, turn: int) -> str:
    r"""The answer for the chat: escaped text whose ``[n]`` markers (those with a
    citation) are links to source card ``#src-{turn}-{n}``; a bracketed number quoted from
    an article (``\[7\]``, see :func:`rag.answer.citations.defuse`) is shown as text, "[7]".

    >>> answer_markdown(Answer("q", "signé en 2022 \\[7\\].", True, "fr", []), turn=0)
    'signé en 2022 \\[7\\].'
    """
    titles = {c.n: c.title or c.source for c in answer.citations}

    def link(m: re.Match[str]) -> str:
        n = int(m.group(1))
        if n not in titles:
            return m.group(0)
        return (f'<a href="#src-{turn}-{n}" class="cite" '
                f'title="Source {n}: {html.escape(titles[n], quote=True)}">[{n}]</a>')

    # an article's own "[7]" is text: shown as written, never a link
    text = _LITERAL.sub(r"\\[\1\\]", _MARKER.sub(link, escape_markdown(answer.answer)))
    notice = f"\n\n⚠️ *{escape_markdown(answer.notice)}*" if answer.notice else ""
    return text + notice


def question_markdown(question: str, limit: int = 300) -> str:
    """A user's message as shown in the chat: escaped, and cut when very long."""
    question = question.strip()
    if len(question) > limit:
        question = question[:limit].rstrip() + f"… ({len(question):,} characters)"
    return escape_markdown(question)


def meta_line(date: str | None, outlet: str | None, source: str) -> str:
    """``RT France · January 2021 · file.txt`` (escaped); no outlet left out.

    >>> meta_line("2022-02-14", "Sputnik <France>", "a.txt")
    'Sputnik &lt;France&gt; · 14 February 2022 · a.txt'
    """
    parts = [outlet, format_date(date, "en") if date else "undated", source]
    return " · ".join(html.escape(p) for p in parts if p)


def original_link(url: str | None) -> str:
    """The "Open original ↗" link of a source card: only to an ``http``/``https`` address
    (never ``javascript:``, ``data:``, ``file:``…), escaped, opened in a new tab that cannot
    reach back into the page (``noopener``) nor learn where the reader came from
    (``noreferrer``); empty without such an address.

    >>> original_link('https://example.org/a?b=1&c="2"')
    ' · <a class="original" href="https://example.org/a?b=1&amp;c=&quot;2&quot;" target="_blank" rel="noopener noreferrer">Open original ↗</a>'
    >>> original_link("javascript:alert(1)"), original_link(None)
    ('', '')
    """
    url = web_url(url)
    if url is None:
        return ""
    return (f' · <a class="original" href="{html.escape(url, quote=True)}" target="_blank" '
            f'rel="noopener noreferrer">Open original ↗</a>')


def article_label(doc: Document, limit: int = 80) -> str:
    """A short, plain label for an article in a list: its title (cut), date.

    >>> article_label(Document("a.txt", "a.txt", "", title="Sommet", date="2021-06"))
    'Sommet (2021-06)'
    """
    title = doc.title or doc.source
    if len(title) > limit:
        title = title[:limit - 1].rstrip() + "…"
    return f"{title} ({doc.date})" if doc.date else title


# --------------------------------------------------------------------------- sources panel


def sources_html(answer: Answer, documents: Callable[[str], Document], turn: int) -> str:
    """One answer's block in the sources panel: a card per citation (title, outlet,
    date, file, score, an "Open original ↗" link to the article's page when it has one,
    the passage with its quote in ``<mark>``, an "Open article" button), or the plain
    "no sources" note."""
    head = (f'<div class="turn-head">Sources for <q>{html.escape(_short(answer.question))}</q></div>')
    if not answer.citations:
        return (f'<section class="turn" data-turn="{turn}">{head}'
                f'<p class="no-sources">{html.escape(NO_SOURCES)}</p></section>')
    cards = []
    for c in answer.citations:
        doc = documents(c.doc_id)
        cards.append(
            f'<article class="source" id="src-{turn}-{c.n}" data-turn="{turn}" data-n="{c.n}">'
            f'<header><span class="num">[{c.n}]</span> '
            f'<strong class="title">{html.escape(c.title or c.source)}</strong></header>'
            f'<div class="meta">{meta_line(c.date, c.outlet, c.source)}'
            f' · <span class="score" title="retrieval score">score {c.score:.2f}</span>'
            f'{original_link(c.url)}</div>'
            f'<blockquote class="passage">{citation_html(doc, c)}</blockquote>'
            f'<button type="button" class="open-article" data-turn="{turn}" data-n="{c.n}">'
            f'Open article ›</button></article>')
    return f'<section class="turn" data-turn="{turn}">{head}{"".join(cards)}</section>'


def viewer_html(answer: Answer, documents: Callable[[str], Document], turn: int) -> str:
    """One answer's articles for the article viewer: per citation, the whole cleaned
    article with the passage (``id="passage-{turn}-{n}"``) and the quote highlighted.
    Hidden until a citation opens it."""
    parts = []
    for c in answer.citations:
        doc = documents(c.doc_id)
        body = article_html(doc, (c.start, c.end), (c.quote_start, c.quote_end),
                            anchor=f"passage-{turn}-{c.n}")
        parts.append(
            f'<article class="article" id="art-{turn}-{c.n}" hidden>'
            f'<header><span class="num">[{c.n}]</span> '
            f'<strong class="title">{html.escape(c.title or c.source)}</strong>'
            f'<div class="meta">{meta_line(c.date, c.outlet, c.source)}{original_link(c.url)}</div></header>'
            f'<div class="article-text">{body}</div></article>')
    return "".join(parts)


def sources_panel(turns: Sequence[str], coming: bool = False) -> str:
    """The sources panel: the latest answer's block shown, earlier ones kept hidden
    (so that their markers still open the right source); ``coming``: the latest answer is
    still being written (its block says so, ``aria-busy``)."""
    if not turns:
        return f'<div class="sources"><p class="placeholder">{html.escape(SOURCES_PLACEHOLDER)}</p></div>'
    blocks = list(turns[-KEEP_TURNS:])
    current = '<section class="turn current" aria-busy="true"' if coming else '<section class="turn current"'
    blocks[-1] = blocks[-1].replace('<section class="turn"', current, 1)
    return f'<div class="sources">{"".join(blocks)}</div>'


def article_viewer(turns: Sequence[str]) -> str:
    """The article viewer: a scrollable box holding the cited articles, none shown yet."""
    return (f'<div class="viewer"><p class="placeholder">{html.escape(VIEWER_PLACEHOLDER)}</p>'
            f'{"".join(turns[-KEEP_TURNS:])}</div>')


def _short(text: str, limit: int = 120) -> str:
    return text if len(text) <= limit else text[:limit - 1].rstrip() + "…"


# --------------------------------------------------------------------------- chat


@dataclass
class ChatState:
    """What the page remembers for one browser session: the questions asked (the
    history for follow-ups) and each answer's rendered sources and articles."""

    questions: list[str] = field(default_factory=list)
    sources: list[str] = field(default_factory=list)
    articles: list[str] = field(default_factory=list)

    @property
    def turn(self) -> int:
        """The number of the next answer."""
        return len(self.sources)


@dataclass(frozen=True)
class ChatUpdate:
    """One step of an answer on the page: the chat text so far; on the last step
    (``done``) also the sources panel and the article viewer."""

    markdown: str
    done: bool = False
    sources: str = ""
    articles: str = ""
    answer: Answer | None = None


def make_filters(date_from: str | None, date_to: str | None,
                 doc_ids: Iterable[str] | None = None, all_doc_ids: Iterable[str] | None = None) -> Filters:
    """Filters from the page's inputs. Dates are ``YYYY-MM-DD`` (or ``YYYY-MM``,
    ``YYYY``), blank for no bound; no chosen article (or all of them) means every
    article. Raises :class:`InputError` with a message fit for the page.

    >>> make_filters(" 2021-01 ", "", ["a.txt"], ["a.txt", "b.txt"])
    Filters(doc_ids=frozenset({'a.txt'}), date_from='2021-01', date_to=None)
    >>> make_filters("2021-13-01", None)
    Traceback (most recent call last):
    ...
    rag.errors.InputError: "From" date 2021-13-01 is not a valid date: use YYYY-MM-DD, e.g. 2021-06-16.
    """
    bounds = []
    for label, value in (("From", date_from), ("To", date_to)):
        value = (value or "").strip()
        if value and not _valid_date(value):
            raise InputError(f'"{label}" date {_short(value, 20)} is not a valid date: '
                             "use YYYY-MM-DD, e.g. 2021-06-16.")
        bounds.append(value or None)
    if bounds[0] and bounds[1] and bounds[0][:len(bounds[1])] > bounds[1][:len(bounds[0])]:
        raise InputError(f"The date range is empty: {bounds[0]} comes after {bounds[1]}.")
    chosen = frozenset(doc_ids or ())
    everything = frozenset(all_doc_ids or ())
    if not chosen or (everything and chosen >= everything):
        chosen_or_all = None
    else:
        chosen_or_all = chosen
    return Filters(doc_ids=chosen_or_all, date_from=bounds[0], date_to=bounds[1])


def _valid_date(value: str) -> bool:
    m = _DATE.match(value)
    if not m:
        return False
    month, day = m.group(2), m.group(3)
    if month and not 1 <= int(month) <= 12:
        return False
    if day:
        try:
            time.strptime(value, "%Y-%m-%d")
        except ValueError:
            return False
    return True


def reader_choices(pipeline: Pipeline) -> list[str]:
    """The readers the page offers: :func:`~rag.answer.readers.available_readers` for the
    settings, with the pipeline's own reader among them."""
    names = available_readers(pipeline.settings.reader)
    own = pipeline.reader.name
    return names + [own] if own not in names else names


def with_reader(pipeline: Pipeline, name: str | None) -> Pipeline:
    """The pipeline answering with reader ``name``: ``pipeline`` itself when it already
    does, else one sharing its index, retriever and models (the shared pipeline is never
    changed under other sessions). Each reader is built once per pipeline, and follows
    the pipeline's index after an upload or a removal."""
    if not name or name == pipeline.reader.name:
        return pipeline
    offered = reader_choices(pipeline)
    if name not in offered:
        raise InputError(f"Unknown reader {name!r}; choose one of: {', '.join(offered)}.")
    return pipeline.with_reader(name)


def chat_turn(pipeline: Pipeline, question: str, state: ChatState, *, k: int | None = None,
              filters: Filters | None = None) -> Iterator[ChatUpdate]:
    """Answer ``question`` as a follow-up of the session's earlier questions, as the
    page shows it: growing chat text, then (last update, ``done``) the sources panel
    and the article viewer. ``state`` is updated when the answer is complete.

    Raises :class:`InputError` before anything is shown when the question is unusable
    (empty, too long); other errors propagate (see :func:`friendly_error`).
    """
    question = validate_question(question, pipeline.settings.max_question_chars)
    pipeline = pipeline.pinned()  # the sources are rendered from the text the answer quotes
    turn = state.turn
    final: Answer | None = None
    # the latest questions only: a long chat is not a history over the limit
    history = state.questions[-pipeline.settings.max_history_items:]
    docs: dict[str, Document] = {}

    def document(doc_id: str) -> Document:
        if doc_id not in docs:
            docs[doc_id] = pipeline.document(doc_id)
        return docs[doc_id]

    shown: frozenset[int] = frozenset()
    parts = pipeline.stream(question, history=history, k=k, filters=filters)
    for i, part in enumerate(parts):
        # a fast reader's answer comes whole (in milliseconds): shown growing, as a model's does
        steps = growing(part) if i == 0 and not pipeline.reader.streams and not part.abstained else iter(())
        for step in (*steps, part):
            final = step
            cited = frozenset(c.n for c in step.citations)
            if cited == shown:
                yield ChatUpdate(answer_markdown(step, turn))
                continue
            shown = cited  # the sources with the first claim that cites them, not at the end
            yield ChatUpdate(answer_markdown(step, turn),
                             sources=sources_panel([*state.sources, sources_html(step, document, turn)], coming=True),
                             articles=article_viewer([*state.articles, viewer_html(step, document, turn)]))
    assert final is not None
    state.questions.append(question)
    state.sources.append(sources_html(final, document, turn))
    state.articles.append(viewer_html(final, document, turn))
    del state.sources[:-KEEP_TURNS], state.articles[:-KEEP_TURNS]
    yield ChatUpdate(answer_markdown(final, turn), done=True, sources=sources_panel(state.sources),
                     articles=article_viewer(state.articles), answer=final)


def growing(answer: Answer, words: int = STREAM_WORDS) -> Iterator[Answer]:
    """``answer`` as the page shows a fast reader's answer: ``words`` more words at each
    step, with the citations its text already refers to (the whole answer not included).

    >>> from rag.types import Answer
    >>> [a.answer for a in growing(Answer("q", "It was extended in 2021 [1].", False, "en"), 2)]
    ['It was ', 'It was extended in ']
    """
    pieces = re.findall(r"\S+\s*", answer.answer)
    for end in range(words, len(pieces), words):
        text = "".join(pieces[:end])
        cited = set(markers(text))
        yield replace(answer, answer=text, citations=[c for c in answer.citations if c.n in cited])


def friendly_error(exc: BaseException) -> str:
    """The message the page shows for an error: a :class:`RagError`'s own message,
    else a generic one (the traceback goes to the server log)."""
    if isinstance(exc, RagError):
        return str(exc)
    log.error("unexpected error in the web chat", exc_info=exc)
    return GENERIC_ERROR


# --------------------------------------------------------------------------- corpus


def corpus_rows(articles: Sequence[tuple[Document, int]]) -> list[list[str | int]]:
    """Rows of the corpus table: title, date, outlet, source file, chunk count."""
    return [[d.title or "(untitled)", d.date or "", d.outlet or "", d.source, n]
            for d, n in sorted(articles, key=_by_date)]


def corpus_summary(articles: Sequence[tuple[Document, int]], pending: Sequence[str] = ()) -> str:
    r"""The Markdown above the corpus table: the counts, and the corpus folder's files not
    in the index yet (``pending``: being indexed in the background), escaped.

    >>> corpus_summary([(Document("a.txt", "a.txt", ""), 4), (Document("b.md", "b.md", ""), 2)])
    '**2 articles**, 6 passages indexed.'
    >>> corpus_summary([], ["c_*.txt"]).split("\n\n")[1]
    '**Pending:** c\\_\\*.txt, in the corpus folder but not in the index yet (being indexed in the background).'
    """
    n, chunks = len(articles), sum(c for _, c in articles)
    # (where to add articles is said by the upload control, which readers do not see)
    text = f"**{n} article{'s' if n != 1 else ''}**, {chunks} passage{'s' if chunks != 1 else ''} indexed."
    if pending:
        text += ("\n\n**Pending:** " + ", ".join(escape_markdown(p) for p in pending)
                 + ", in the corpus folder but not in the index yet (being indexed in the background).")
    return text


def article_choices(articles: Sequence[tuple[Document, int]]) -> list[tuple[str, str]]:
    """``(label, doc_id)`` pairs for the article filter and the removal list."""
    return [(article_label(d), d.doc_id) for d, _ in sorted(articles, key=_by_date)]


def _by_date(article: tuple[Document, int]) -> tuple[bool, str, str]:
    """Oldest first, undated articles last."""
    doc = article[0]
    return (doc.date is None, doc.date or "", doc.source)


@dataclass
class UploadResult:
    """What an upload did: sources added to the index, files already there, files
    refused (name → reason) and the ingest report (``None`` when nothing was ingested)."""

    added: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    refused: dict[str, str] = field(default_factory=dict)
    report: IngestReport | None = None

    def message(self) -> str:
        """A short Markdown status, every name escaped."""
        lines = []
        if self.added:
            lines.append("**Added:** " + ", ".join(escape_markdown(s) for s in self.added))
        if self.unchanged:
            lines.append("**Already in the corpus:** " + ", ".join(escape_markdown(s) for s in self.unchanged))
        for name, why in self.refused.items():
            lines.append(f"**Not added:** {escape_markdown(why)}" if name in why
                         else f"**Not added:** {escape_markdown(name)}: {escape_markdown(why)}")
        if self.report is not None and self.report.wrote_index:
            lines.append(f"Index updated in {self.report.seconds:.1f} s "
                         f"({self.report.chunks} passages in all).")
        return "\n\n".join(lines) or "No file to add."


#: The upload's status while its ingest runs, and once cancelled.
UPLOAD_STARTED = ("Indexing the upload… Questions are still answered meanwhile, from the articles "
                  "already indexed.")
UPLOAD_CANCELLED = "**Upload cancelled:** nothing of it was added; the index is as it was."
#: A removal that did not go through its confirmation (an API call, a stale page).
REMOVE_UNCONFIRMED = ("⚠️ Nothing removed: a removal must be confirmed. Choose the article, press "
                      "“Remove…”, then “Yes, remove it”.")


def uploaded_paths(files: object) -> list[Path]:
    """The uploaded files' paths as the page's upload hands them (file paths, or Gradio's
    file data with a ``path``); anything else is an :class:`InputError`.

    >>> uploaded_paths(["/tmp/a.txt", {"path": "/tmp/b.md"}])
    [PosixPath('/tmp/a.txt'), PosixPath('/tmp/b.md')]
    """
    items = files if isinstance(files, (list, tuple)) else [files]
    paths = []
    for item in items:
        path = item.get("path") if isinstance(item, dict) else getattr(item, "path", item)
        if not isinstance(path, (str, Path)) or not str(path):
            raise InputError(f"The upload must be files ({ARTICLE_FORMATS}).")
        paths.append(Path(path))
    return paths


def passages_to_read(value: object, most: int = 8) -> int:
    """The page's "passages to read" slider value as a number of passages (1 to ``most``);
    anything that is not a number is an :class:`InputError`.

    >>> passages_to_read(3.0), passages_to_read(40)
    (3, 8)
    """
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value != value:
        raise InputError("“Passages to read” must be a number from 1 to 8.")
    return max(1, min(most, int(value)))


def upload_articles(pipeline: Pipeline, files: Sequence[str | Path], names: Sequence[str] | None = None,
                    progress: Progress | None = None) -> UploadResult:
    """Add uploaded files to the corpus and index them (one incremental ingest).

    Each file is checked on its own: a broken one (binary, unsupported type, no article
    text, more to index than ``max_upload_texts``) is refused with the reason and the
    others still go in. When ``progress`` raises :class:`~rag.errors.Cancelled` (the user
    cancelled) the files this upload wrote are deleted again and the index is left as it was.
    """
    paths = [Path(f) for f in files]
    names = list(names) if names is not None else [f.name for f in paths]
    result = UploadResult()
    sources: list[str] = []
    settings = pipeline.settings
    root = Path(settings.corpus_dir)
    before = set(os.listdir(root)) if root.is_dir() else set()  # uploads land at the top
    try:
        for i, (path, name) in enumerate(zip(paths, names)):
            if progress:
                progress(i, len(paths), "checking files")
            try:
                sources += add_files(root, [path], [name], max_bytes=settings.max_file_bytes,
                                     admit=lambda doc: check_upload(doc, settings))
            except CorpusError as exc:
                result.refused[name] = str(exc)
            except OSError as exc:
                result.refused[name] = f"{name}: could not be read ({exc.strerror or exc})."
        if not sources:
            return result
        report = pipeline.library.ingest(progress=progress)
    except Cancelled:  # before the index switched: the files this upload wrote go again
        for source in sources:
            if source not in before:
                with contextlib.suppress(OSError):
                    (root / source).unlink()
        raise
    result.report = report
    fresh = set(report.added) | set(report.changed)
    for source in sources:
        if source in report.skipped:
            result.refused[source] = report.skipped[source].reason
        elif source in report.duplicates:
            kept = report.duplicates[source]
            result.refused[source] = f"{source}: the same article as {kept}, which is indexed; this copy is not."
        elif source in fresh:
            result.added.append(source)
        else:
            result.unchanged.append(source)
    return result


def add_article_text(pipeline: Pipeline, file_name: str, text: str,
                     progress: Progress | None = None) -> UploadResult:
    """:func:`upload_articles` for an article sent as text (the API's ``add_article``):
    checked as an upload of a file named ``file_name`` holding ``text``."""
    if not isinstance(file_name, str) or not file_name.strip() or not isinstance(text, str):
        raise InputError("add_article needs a file name (.txt, .md or .html) and the article's text.")
    if Path(file_name.strip()).suffix.lower() in BINARY_SUFFIXES:  # text sent as a PDF would be refused as damaged
        raise InputError(f"{file_name.strip()}: add_article takes an article's text, so its file name ends in .txt, "
                         ".md or .html; add a PDF or DOCX file on the page's Corpus tab, or copy it into the "
                         "corpus folder.")
    with tempfile.TemporaryDirectory(prefix="newsrag-api-") as tmp:
        path = Path(tmp) / ("article" + Path(file_name).suffix.lower()[:10])
        path.write_text(text, encoding="utf-8")
        return upload_articles(pipeline, [path], [file_name.strip()], progress=progress)


#: Article addresses one "Add from the web" (or API ``add_url`` call) takes at most; a feed
#: given with them is read up to as many of its newest articles.
MAX_WEB_URLS = 20
#: The longest line taken as an address (browsers and servers stop around 2,000-8,000).
MAX_URL_CHARS = 2048
#: What a refused private address adds, for the editor to pass on.
PRIVATE_HINT = ("Addresses on the server's own machine or its local network are not fetched from the page. "
                "The server's operator can allow them with `RAG_ALLOW_PRIVATE_URLS=1` (or "
                "`rag serve --allow-private-urls`).")


@dataclass
class WebAddResult:
    """What an "Add from the web" did: a line per page and feed, as ``rag add`` prints them
    (added, updated, unchanged, the same text as another address, failed and why), and the
    library's report."""

    lines: list[str]
    report: AddReport
    allow_private: bool = False

    @property
    def ok(self) -> bool:
        """Something was stored, or nothing failed."""
        return self.report.ok

    def message(self) -> str:
        """A Markdown status: the summary, each page's line and the index's update, escaped;
        how the operator allows private addresses when one was refused."""
        report = self.report
        parts = [f"**From the web:** {escape_markdown(report.summary())}."]
        if self.lines:
            parts.append("\n".join(f"- {escape_markdown(line.replace(' -> ', ' → '))}" for line in self.lines))
        if not self.allow_private and any(e.kind == "private" for e in report.failed):
            parts.append(PRIVATE_HINT)
        if report.ingest is not None and report.ingest.wrote_index:
            parts.append(f"Index updated in {report.ingest.seconds:.1f} s ({report.ingest.chunks} passages in all).")
        return "\n\n".join(parts)


def web_addresses(urls: object, feed: object = None) -> tuple[list[str], str | None]:
    r"""The article addresses (``urls``: text, one per line, or a list of them) and the
    feed address (or None) of an "Add from the web": blank lines dropped, repeats once.
    More than :data:`MAX_WEB_URLS` addresses, a line too long to be one, several feeds or
    nothing at all are an :class:`InputError`. Whether each is a web address the fetcher
    says, address by address.

    >>> web_addresses(" https://a.example/1 \n\nhttps://a.example/1\nhttps://b.example/2", "")
    (['https://a.example/1', 'https://b.example/2'], None)
    """
    def lines(value: object, what: str) -> list[str]:
        if value is None:
            return []
        items = list(value) if isinstance(value, (list, tuple)) else [value]
        texts = [item for item in items if isinstance(item, str)]
        if len(texts) != len(items):
            raise InputError(f"The {what} must be text: web addresses, one per line.")
        found: dict[str, None] = {}  # in their order, once each
        for n, line in enumerate((line.strip() for text in texts for line in text.splitlines()), 1):
            if len(line) > MAX_URL_CHARS:
                raise InputError(f"Line {n} of the {what} is {len(line):,} characters long: not a web address "
                                 f"(at most {MAX_URL_CHARS:,}).")
            if line:
                found[line] = None
        return list(found)

    pages = lines(urls, "article addresses")
    feeds = lines(feed, "feed address")
    if len(pages) > MAX_WEB_URLS:
        raise InputError(f"{len(pages)} addresses: at most {MAX_WEB_URLS} are added at a time. Add the others "
                         "in another go (or ask the server's operator to run rag add with them).")
    if len(feeds) > 1:
        raise InputError("One feed at a time: give the address of one RSS or Atom feed.")
    if not pages and not feeds:
        raise InputError("Give the address of an article page (one per line), or a feed's.")
    return pages, (feeds[0] if feeds else None)


def add_from_web(pipeline: Pipeline, access: Access, user: str | None, urls: object, feed: object = None,
                 progress: Progress | None = None) -> WebAddResult:
    """Fetch article pages (and a feed's newest articles) into the corpus and index them:
    the page's "Add from the web" and the API's ``add_url``, for ``user``.

    Refused (:class:`~rag.web.accounts.NotAllowed`) unless ``access`` lets ``user`` change
    the corpus, and for addresses as :func:`web_addresses` says, before anything is fetched.
    Then :meth:`rag.library.Library.add_urls`, which never fetches from a loopback or private
    address unless the operator allowed it (``Settings.allow_private_urls``): such a page
    fails, named, with how the operator allows it (the others still go in); so does an article
    longer to index than an upload may be (``Settings.max_upload_texts``). ``progress``
    hears each page's line, then the ingest's steps.
    """
    access.check_edit(user)
    pages, feed_url = web_addresses(urls, feed)
    allow_private = pipeline.settings.allow_private_urls
    lines: list[str] = []

    def notify(line: str) -> None:
        lines.append(line)
        if progress:
            progress(0, 0, line)

    if progress:
        progress(0, 0, f"fetching {len(pages) + (feed_url is not None)} address(es)")
    report = pipeline.library.add_urls(pages, feeds=[feed_url] if feed_url else [], allow_private=allow_private,
                                       notify=notify, progress=progress, max_entries=MAX_WEB_URLS, bounded=True)
    log.info("%s added from the web: %s", user or "the local user", report.summary())
    return WebAddResult(lines, report, allow_private)


def remove_article(pipeline: Pipeline, doc_id: str, progress: Progress | None = None) -> str:
    """Take an article out of the corpus and the index; returns a Markdown status."""
    if not isinstance(doc_id, str) or not doc_id:
        raise InputError("Choose the article to remove first.")
    doc = pipeline.document(doc_id)
    report = pipeline.library.remove_article(doc.source, progress=progress)
    return (f"**Removed:** {escape_markdown(doc.title or doc.source)} ({escape_markdown(doc.source)}); "
            f"the file is kept in the corpus's `.removed` folder. "
            f"Index updated in {report.seconds:.1f} s.")


__all__ = [
    "ChatState", "ChatUpdate", "GENERIC_ERROR", "MAX_WEB_URLS", "NO_SOURCES", "REMOVE_UNCONFIRMED",
    "UPLOAD_CANCELLED", "UPLOAD_STARTED", "UploadResult", "WebAddResult", "add_article_text", "add_from_web",
    "web_addresses", "answer_markdown", "passages_to_read", "uploaded_paths",
    "article_choices", "article_label", "article_viewer", "chat_turn", "corpus_rows", "corpus_summary", "escape_markdown",
    "friendly_error", "reader_choices", "make_filters", "meta_line", "question_markdown", "remove_article",
    "sources_html", "sources_panel", "upload_articles", "viewer_html", "with_reader",
]
