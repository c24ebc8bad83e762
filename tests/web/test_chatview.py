"""rag.web.chatview: what the chat page shows — escaped, linked, highlighted from offsets —
and the page's filters, uploads and reader choice. No browser here (see
test_ui_browser.py for the page itself)."""

from __future__ import annotations

import html
import re
from dataclasses import replace

import pytest

from rag import Pipeline
from rag.answer.readers import available_readers
from rag.errors import InputError, RagError
from rag.types import Answer, Citation, Document, Filters
from rag.web.chatview import (
    NO_SOURCES,
    ChatState,
    add_article_text,
    answer_markdown,
    article_choices,
    article_viewer,
    chat_turn,
    corpus_rows,
    escape_markdown,
    friendly_error,
    make_filters,
    question_markdown,
    reader_choices,
    sources_html,
    sources_panel,
    upload_articles,
    uploaded_paths,
    viewer_html,
    with_reader,
)

HOSTILE = Document("evil.txt", "evil.txt",
                   'Titre\n\nAvant <script>window.x=1</script> puis <img src=x onerror="y()"> fin. Après.',
                   title="<b>Titre</b>", date="2022-03-10", outlet="<i>Outlet</i>")


def hostile_answer() -> Answer:
    text = HOSTILE.text
    start = text.index("Avant")
    qs, qe = start, text.index(" Après")
    c = Citation(1, HOSTILE.doc_id, HOSTILE.source, HOSTILE.title, HOSTILE.date, HOSTILE.outlet,
                 text[start:], start, len(text), text[qs:qe], qs, qe, 0.81234)
    return Answer("Quoi ? <b>", f"Selon l'article [1]: «{text[qs:qe]}» [Note] [7]", False, "fr", [c])


def test_answer_markdown_escapes_everything_and_links_only_real_markers():
    md = answer_markdown(hostile_answer(), turn=3)
    assert "<script" not in md and "<img" not in md and "&lt;script&gt;" in md
    assert md.count('<a href="#src-3-1" class="cite"') == 1
    assert "\\[Note\\]" in md and "\\[7\\]" in md  # not a citation: left as text
    assert 'title="Source 1: &lt;b&gt;Titre&lt;/b&gt;"' in md


def test_escape_markdown_leaves_plain_text_readable():
    assert escape_markdown("AT&T, 5 février 2026.") == "AT&amp;T, 5 février 2026."
    assert escape_markdown(None) == ""


def test_long_questions_are_cut_for_display():
    shown = question_markdown("a" * 100_000)
    assert len(shown) < 400 and "100,000 characters" in shown


def test_sources_html_highlights_the_quote_from_offsets_and_escapes():
    answer = hostile_answer()
    c = answer.citations[0]
    card = sources_html(answer, {HOSTILE.doc_id: HOSTILE}.__getitem__, turn=2)
    assert "<script" not in card and "<img" not in card and "<b>" not in card and "<i>" not in card
    assert 'id="src-2-1"' in card and 'class="open-article" data-turn="2" data-n="1"' in card
    marked = re.search(r"<mark>(.*?)</mark>", card, re.S).group(1)
    assert html.unescape(marked) == c.quote == HOSTILE.text[c.quote_start:c.quote_end]
    assert "score 0.81" in card and "10 March 2022" in card and "&lt;i&gt;Outlet&lt;/i&gt;" in card


def test_viewer_html_holds_the_whole_article_with_the_passage_anchor():
    answer = hostile_answer()
    page = viewer_html(answer, {HOSTILE.doc_id: HOSTILE}.__getitem__, turn=0)
    assert 'id="art-0-1" hidden' in page and page.count('id="passage-0-1"') == 1
    assert "<script" not in page and "<img" not in page
    assert html.unescape(re.sub(r"<[^>]+>", "", page.split('<div class="article-text">')[1])).startswith("Titre")


@pytest.mark.parametrize("url, shown", [
    ('https://news.example.org/a?x=1&y="2"><script>', 'href="https://news.example.org/a?x=1&amp;y=&quot;2&quot;&gt;&lt;script&gt;"'),
    ("http://news.example.org/a", 'href="http://news.example.org/a"'),
    ("javascript:alert(1)", None), ("JAVASCRIPT:alert(1)", None), ("data:text/html,<b>x</b>", None),
    ("file:///etc/passwd", None), ("ftp://example.org/a", None), ("//example.org/a", None),
    ("https://example.org/a b", None), (None, None),
])
def test_a_source_card_links_to_the_original_page_only_over_http(url, shown):
    answer = hostile_answer()
    answer.citations[0] = replace(answer.citations[0], url=url)
    documents = {HOSTILE.doc_id: HOSTILE}.__getitem__
    card, page = sources_html(answer, documents, turn=1), viewer_html(answer, documents, turn=1)
    for block in (card, page):
        if shown is None:
            assert "Open original" not in block and "<a " not in block
            continue
        link = re.search(r'<a class="original"[^>]*>Open original ↗</a>', block).group(0)
        assert shown in link and 'target="_blank"' in link and 'rel="noopener noreferrer"' in link
        assert "<script" not in block
    if shown is not None:  # beside the outlet and date, in the card's meta line
        meta = re.search(r'<div class="meta">(.*?)</div>', card, re.S).group(1)
        assert "10 March 2022" in meta and "Open original" in meta


def test_abstention_has_no_cards_and_says_so():
    answer = Answer("Who won?", "The articles do not say.", True, "en", [])
    block = sources_html(answer, lambda d: pytest.fail("no document needed"), turn=0)
    assert NO_SOURCES in block and 'class="source"' not in block
    assert viewer_html(answer, lambda d: pytest.fail("no document needed"), turn=0) == ""


def test_panels_show_the_latest_answer_and_keep_earlier_ones():
    assert "placeholder" in sources_panel([]) and "placeholder" in article_viewer([])
    panel = sources_panel(['<section class="turn" data-turn="0">a</section>',
                           '<section class="turn" data-turn="1">b</section>'])
    assert panel.count('class="turn current"') == 1
    assert '<section class="turn current" data-turn="1">' in panel


@pytest.mark.parametrize("start,end,message", [
    ("2021-02-30", None, "not a valid date"),
    ("21-01-01", None, "not a valid date"),
    (None, "2021-13", "not a valid date"),
    ("2022-01-01", "2021-06", "comes after"),
    ("<script>", None, "not a valid date"),
])
def test_bad_filter_dates_are_refused_with_a_clear_message(start, end, message):
    with pytest.raises(InputError, match=message):
        make_filters(start, end)


def test_filters_from_the_page():
    assert make_filters("", " ", [], ["a", "b"]) == Filters()
    assert make_filters("2021", "2021-06-30", ["a", "b"], ["a", "b"]) == Filters(None, "2021", "2021-06-30")
    assert make_filters(None, None, ["a"], ["a", "b"]).doc_ids == frozenset({"a"})
    assert make_filters("2021-06", "2021-06-16").date_to == "2021-06-16"  # same month: not reversed


def test_corpus_rows_and_choices_list_every_article(pipeline: Pipeline):
    listed = pipeline.library.articles()
    rows = corpus_rows(listed)
    assert len(rows) == len(listed) == len(article_choices(listed))
    assert {r[3] for r in rows} == {d.source for d, _ in listed}
    dates = [r[1] for r in rows if r[1]]
    assert dates == sorted(dates) and rows[-1][1] == ""  # oldest first, undated last
    assert all(isinstance(r[4], int) and r[4] > 0 for r in rows)


def test_chat_turn_streams_then_fills_the_panels_and_remembers_the_question(pipeline: Pipeline):
    state = ChatState()
    updates = list(chat_turn(pipeline, "When was New START extended?", state))
    assert len(updates) > 2 and not any(u.done for u in updates[:-1]) and updates[-1].done
    final = updates[-1]
    assert final.answer is not None and final.answer.citations
    assert 'href="#src-0-1"' in final.markdown and 'id="src-0-1"' in final.sources
    assert 'id="passage-0-1"' in final.articles
    assert state.questions == ["When was New START extended?"] and state.turn == 1
    follow = list(chat_turn(pipeline, "And when does it expire?", state))[-1]
    assert 'id="src-1-1"' in follow.sources and 'id="src-0-1"' in follow.sources  # both kept
    # answered about New START's expiry: the history was carried over
    cited = follow.answer.citations[0]
    assert "new start" in cited.passage.lower() and "expir" in cited.quote.lower()


def test_the_sources_come_with_the_first_claim_that_cites_them(pipeline: Pipeline):
    """The Sources panel fills as soon as the growing answer shows its first [n] (an English
    answer's translation may follow seconds later), not when the whole answer is done."""
    updates = list(chat_turn(pipeline, "When was New START extended?", ChatState()))
    first_cited = next(i for i, u in enumerate(updates) if 'href="#src-0-1"' in u.markdown)
    early = updates[first_cited]
    assert not early.done and 'id="src-0-1"' in early.sources and 'id="passage-0-1"' in early.articles
    assert 'aria-busy="true"' in early.sources and 'aria-busy' not in updates[-1].sources  # said to be coming
    assert all(not u.sources for u in updates[:first_cited])  # nothing cited yet: the panel is left as it is
    assert updates[-1].done and 'id="src-0-1"' in updates[-1].sources


def test_chat_turn_refuses_unusable_questions_before_showing_anything(pipeline: Pipeline):
    state = ChatState()
    with pytest.raises(InputError, match="empty"):
        next(chat_turn(pipeline, "   ", state))
    with pytest.raises(InputError, match="limit"):
        next(chat_turn(pipeline, "x " * 50_000, state))
    assert state == ChatState()


def test_friendly_errors_never_show_internals(caplog):
    assert friendly_error(RagError("The index is missing. Run rag ingest.")) == "The index is missing. Run rag ingest."
    message = friendly_error(ZeroDivisionError("secret internals"))
    assert "secret" not in message and "server log" in message
    assert "ZeroDivisionError" in caplog.text


def test_readers_listed_and_chosen(pipeline: Pipeline):
    assert available_readers()[:2] == ["learned", "extractive"]
    assert reader_choices(pipeline)[0] == "learned" == pipeline.reader.name
    assert with_reader(pipeline, "learned") is pipeline
    assert with_reader(pipeline, None) is pipeline
    other = with_reader(pipeline, "extractive")
    assert other.reader.name == "extractive" and other.store is pipeline.store
    assert with_reader(pipeline, "extractive").reader is other.reader  # built once
    assert pipeline.reader.name == "learned"  # the shared pipeline is unchanged
    with pytest.raises(InputError, match="Unknown reader"):
        with_reader(pipeline, "no-such-reader")


def test_upload_adds_good_files_and_refuses_broken_ones(make_settings, corpus_copy, embedder, tmp_path):
    p = Pipeline.from_settings(make_settings(corpus_dir=corpus_copy), embedder=embedder)
    good = tmp_path / "u1"
    good.write_text("# Le barrage du Dniepr\n\nLe barrage du Dniepr a été inspecté le 4 avril 2022 par des "
                    "ingénieurs venus de Kiev, qui ont jugé l'ouvrage en bon état.\n", encoding="utf-8")
    broken = tmp_path / "u2"
    broken.write_bytes(b"\x00\x01\x02binary" * 20)
    steps: list[tuple[int, int, str]] = []
    result = upload_articles(p, [good, broken], ["barrage.md", "broken.txt"],
                             progress=lambda d, t, w: steps.append((d, t, w)))
    assert result.added == ["barrage.md"] and list(result.refused) == ["broken.txt"]
    assert "binary" in result.refused["broken.txt"] and steps
    message = result.message()
    assert "**Added:** barrage.md" in message and "**Not added:** broken.txt" in message
    assert any(d.source == "barrage.md" for d, _ in p.library.articles())
    again = upload_articles(p, [good], ["barrage.md"])
    assert again.added == [] and again.unchanged == ["barrage.md"]
    assert upload_articles(p, [broken], ["broken.txt"]).report is None
    copy = upload_articles(p, [good], ["barrage-copie.md"])  # the same article under another name
    assert copy.added == [] and "the same article as barrage.md" in copy.refused["barrage-copie.md"]
    assert [d.source for d, _ in p.library.articles()].count("barrage-copie.md") == 0
    p.close()


def test_add_article_takes_text_so_no_pdf_or_docx_name(pipeline: Pipeline):
    # refused before anything is written: a PDF's bytes cannot come as text
    for name in ("rapport.pdf", "note.DOCX"):
        with pytest.raises(InputError, match=rf"{re.escape(name)}: add_article takes an article's text.*Corpus tab"):
            add_article_text(pipeline, name, "Un texte.")
    with pytest.raises(InputError, match=r"\.pdf or \.docx"):
        uploaded_paths([None])
