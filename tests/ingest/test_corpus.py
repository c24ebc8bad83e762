"""Corpus loading and cleaning, on the five real scraped articles and on small made-up files."""

from __future__ import annotations

import logging
import os
import re
import tracemalloc
from pathlib import Path

import pytest

from benchmarks.extraction import LAYOUTS, stories
from benchmarks.news_pages import REYKJAVIK_ARTICLE, REYKJAVIK_HTML
from rag import Settings
from rag.errors import CorpusError
from rag.ingest.chunking import chunk_document, default_splitter
from rag.ingest.corpus import add_files, load_corpus, load_document, parse_document, remove_file, scan_corpus
from rag.ingest.run import ingest
from rag.ingest.webpage import HTML_READER
from rag.store.generations import current_generation
from rag.store.manifest import Manifest

RT = "rt-premier-appel-poutine-biden.txt"
SPUTNIK = "sputnik-kremlin-avantage-biden.txt"
PESKOV = "peskov-dialogue-new-start.txt"
UKRAINE = "appel-poutine-biden-ukraine.txt"
POUTINE = "poutine-interagir-constructive.txt"


def paragraphs(text: str) -> list[str]:
    return text.split("\n\n")


# --------------------------------------------------------------------------- the real corpus


def test_all_five_articles_load(corpus_docs):
    assert sorted(corpus_docs) == sorted([RT, SPUTNIK, PESKOV, UKRAINE, POUTINE])
    for doc in corpus_docs.values():
        assert doc.source == doc.doc_id and doc.source.endswith(".txt")
        assert len(doc.text) > 1500
        assert re.fullmatch(r"[0-9a-f]{64}", doc.sha256)


def test_paragraph_layout_is_normalised(corpus_docs):
    for doc in corpus_docs.values():
        assert "\n\n\n" not in doc.text
        assert "\r" not in doc.text and "\u00a0" not in doc.text and "\ufeff" not in doc.text
        for p in paragraphs(doc.text):
            assert p and p == p.strip(), f"{doc.doc_id}: paragraph with stray whitespace: {p[:60]!r}"
            assert "\n" not in p


def test_cookie_banner_is_gone(corpus_docs):
    rt = corpus_docs[RT].text
    for doc in corpus_docs.values():
        assert "cookie" not in doc.text.lower(), doc.doc_id
    assert "Ce site utilise" not in rt
    assert "En cliquant sur chaque option" not in rt
    assert "En poursuivant votre navigation" not in rt
    assert "OK" not in paragraphs(rt)


def test_comment_disclaimer_is_gone(corpus_docs):
    for doc in corpus_docs.values():
        assert "Les opinions, assertions" not in doc.text
        assert "imputés à RT" not in doc.text


def test_article_ends_with_its_last_real_paragraph(corpus_docs):
    # the site furniture after the article ("Raconter l'actualité", banners) is dropped
    assert corpus_docs[RT].text.endswith("a ajouté Jen Psaki devant la presse.")
    assert "Raconter l'actualité" not in corpus_docs[RT].text
    assert corpus_docs[SPUTNIK].text.endswith("qu’il ne serait pas à l’origine d’une escalade\".")
    assert corpus_docs[PESKOV].text.endswith("devait expirer le 5 février 2021.")


def test_tag_word_lines_are_gone(corpus_docs):
    tags = {"états-unis", "russie", "kremlin", "vladimir poutine", "ukraine", "joe biden"}
    for doc in corpus_docs.values():
        for p in paragraphs(doc.text):
            assert p.casefold() not in tags, f"{doc.doc_id}: tag line {p!r} kept"
    # the names themselves are still in the prose
    assert "Vladimir Poutine" in corpus_docs[SPUTNIK].text
    assert "Joe Biden" in corpus_docs[SPUTNIK].text


def test_repeated_iso_timestamps_are_gone(corpus_docs):
    for doc in corpus_docs.values():
        assert not re.search(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}", doc.text), doc.doc_id
    assert "2022-02-14" not in corpus_docs[SPUTNIK].text


def test_teaser_line_is_gone(corpus_docs):
    # "… Bien que le... 14.02.2022, Sputnik France": a cut-off teaser repeating the lede
    assert "Bien que le..." not in corpus_docs[SPUTNIK].text
    assert "14.02.2022" not in corpus_docs[SPUTNIK].text


def test_photo_credit_is_gone(corpus_docs):
    rt = corpus_docs[RT].text
    assert "©" not in rt
    assert "Source: Reuters" not in rt
    assert "Natruskin" not in rt
    # the headline itself survives (the credit line repeated it, glued to the ©)
    assert paragraphs(rt)[0] == "Premier échange téléphonique entre Vladimir Poutine et Joe Biden"
    assert rt.count("Premier échange téléphonique entre Vladimir Poutine et Joe Biden") == 1


def test_sputnik_glued_paragraphs_are_repaired(corpus_docs):
    text = corpus_docs[SPUTNIK].text
    paras = paragraphs(text)
    i = text.index('"gisent en fait au sol".')
    assert text[i + len('"gisent en fait au sol".'):].startswith("\n\n")
    assert "Des appels pour renouer le dialogue" in paras
    assert any(p.startswith("Plusieurs cessions") for p in paras)
    assert "Moscou ne sera pas à l’origine d’une escalade" in paras
    assert any(p.startswith("Selon le porte-parole de Vladimir Poutine") for p in paras)
    # the sentences glued with ".X" inside a paragraph are separated, none is lost
    assert "pays.Selon" not in text and "dialoguePlusieurs" not in text
    assert ".Des appels" not in text and "escaladeMoscou" not in text
    assert "Pour Dmitri Peskov, il s’agit de la présence de canaux de dialogue entre les deux pays." in text


def test_article_prose_is_kept_verbatim(corpus_docs):
    peskov = corpus_docs[PESKOV].text
    assert ("un projet de loi prévoyant la prorogation du traité New Start pour cinq ans, soit "
            "jusqu’au 5 février 2026, a été signé par Vladimir Poutine le 29 janvier.") in peskov
    assert "à la chaîne de télévision Rossiya 1" in peskov
    assert "Joe Biden, alors vice-président américain" in corpus_docs[RT].text


def test_headline_titles(corpus_docs):
    assert corpus_docs[RT].title == "Premier échange téléphonique entre Vladimir Poutine et Joe Biden"
    assert corpus_docs[SPUTNIK].title == "Le Kremlin révèle un avantage dans ses relations avec l’administration Biden"
    assert corpus_docs[POUTINE].title == "Poutine : la Russie et les États-Unis doivent interagir de manière constructive"


def test_articles_without_headline_get_a_title_from_their_lede(corpus_docs):
    for doc_id in (PESKOV, UKRAINE):
        doc = corpus_docs[doc_id]
        assert doc.title and 20 <= len(doc.title) <= 120
        assert doc.text.startswith(doc.title.rstrip("…"))


def test_dates(corpus_docs):
    assert corpus_docs[PESKOV].date == "2021-01"
    assert corpus_docs[UKRAINE].date == "2021-04"
    assert corpus_docs[SPUTNIK].date == "2022-02-14"
    for doc in corpus_docs.values():
        assert doc.date is None or re.fullmatch(r"\d{4}(-\d{2}(-\d{2})?)?", doc.date)


def test_date_header_is_not_part_of_the_text(corpus_docs):
    for doc_id in (PESKOV, UKRAINE):
        assert not corpus_docs[doc_id].text.lstrip().lower().startswith("date")
    assert corpus_docs[PESKOV].text.startswith("Selon le porte-parole du Kremlin")


def test_outlets(corpus_docs):
    assert corpus_docs[RT].outlet == "RT France"
    assert corpus_docs[SPUTNIK].outlet == "Sputnik France"
    # a photo credit ("Source: Reuters") does not make Reuters the outlet
    assert all(doc.outlet != "Reuters" for doc in corpus_docs.values())


# --------------------------------------------------------------------------- loader, made-up files


ARTICLE, HTML = REYKJAVIK_ARTICLE, REYKJAVIK_HTML


def test_markdown_article(tmp_path: Path):
    (tmp_path / "note.md").write_text(
        "# Sommet arctique à Reykjavik\n\n"
        f"{ARTICLE}\n\n"
        "Un **observatoire commun** des glaces, annoncé sur [le site officiel](https://example.org/x), "
        "ouvrira ses portes en 2025.\n", encoding="utf-8")
    docs, warnings = load_corpus(tmp_path)
    assert warnings == []
    (doc,) = docs
    assert doc.doc_id == "note.md" and doc.source == "note.md"
    assert doc.title == "Sommet arctique à Reykjavik"
    assert doc.date == "2023-03-03"
    assert "#" not in doc.text and "**" not in doc.text and "](" not in doc.text
    assert "example.org" not in doc.text
    assert "Un observatoire commun des glaces, annoncé sur le site officiel, ouvrira" in doc.text


def test_html_article_through_a_real_parser(tmp_path: Path):
    (tmp_path / "page.html").write_text(HTML, encoding="utf-8")
    docs, warnings = load_corpus(tmp_path)
    assert warnings == []
    (doc,) = docs
    assert doc.title == "Sommet arctique à Reykjavik"  # og:title wins over <h1> and <title>
    assert doc.date == "2023-03-03"                    # from article:published_time
    assert doc.outlet == "Le Monde"                    # from og:site_name
    assert ARTICLE in doc.text
    assert "observatoire commun des glaces ouvrira ses portes en 2025" in doc.text
    for junk in ("SECRETSTYLE", "SECRETSCRIPT", "SECRETNAV", "SECRETINLINE", "SECRETFOOTER",
                 "<p>", "</", "dataLayer", "font-family"):
        assert junk not in doc.text, junk


def test_html_title_falls_back_to_h1(tmp_path: Path):
    html = HTML.replace('<meta property="og:title" content="Sommet arctique à Reykjavik">', "")
    (tmp_path / "page.htm").write_text(html, encoding="utf-8")
    (doc,), _ = load_corpus(tmp_path)
    assert doc.title == "Un titre h1 différent"


@pytest.mark.parametrize("layout", sorted(LAYOUTS))
def test_html_article_is_read_without_the_sites_furniture(layout: str):
    """A shipped article inside a news site's page (benchmarks/extraction.py's layouts: menus,
    cookie banners, share buttons, newsletter boxes, related links, comments, footers)."""
    story = next(s for s in stories() if s.file == PESKOV)
    outlet, page, furniture = LAYOUTS[layout](story)
    doc = parse_document(page.encode(), "page.html")
    kept = [f for f in furniture if f in doc.text]
    # a page of <div>s keeps its byline's "updated on" line (benchmarks/README.md#html-article-extraction)
    assert kept == (["Mis à jour le"] if layout == "<div> soup" else []), kept
    positions = [doc.text.index(p) for p in story.paragraphs]  # every paragraph, in order
    assert positions == sorted(positions)
    assert (doc.title, doc.date) == (story.headline, story.day)
    if layout != "<div> soup":  # which names its outlet nowhere but in its <title> and footer
        assert (doc.outlet, doc.author) == (outlet, story.author)
    chunks = chunk_document(doc, default_splitter(300, 50), 50)
    assert chunks and all(doc.text[c.start:c.end] == c.text for c in chunks)  # offsets into the stored text


def test_html_author_and_address_are_read(tmp_path: Path):
    head = ('<meta name="author" content="Marie Dupont">'
            '<link rel="canonical" href="https://news.example.org/arctique?id=3">')
    (tmp_path / "page.html").write_text(HTML.replace("<head>", "<head>" + head), encoding="utf-8")
    (tmp_path / "relative.html").write_text(HTML.replace("<head>", '<head><link rel="canonical" href="/x">')
                                            .replace("glaces", "neiges"), encoding="utf-8")
    (tmp_path / "scheme.html").write_text(HTML.replace("<head>", '<head><link rel="canonical" href="javascript:x">')
                                          .replace("glaces", "banquises"), encoding="utf-8")
    docs = {d.source: d for d in load_corpus(tmp_path)[0]}
    assert (docs["page.html"].author, docs["page.html"].url) == ("Marie Dupont", "https://news.example.org/arctique?id=3")
    assert docs["relative.html"].url is None and docs["scheme.html"].url is None  # http(s) addresses only


def test_html_fragment_and_list_items(tmp_path: Path):
    # a saved fragment: no <html> nor <body> (trafilatura alone refuses it as not a page)
    (tmp_path / "fragment.html").write_text(f"<p>{ARTICLE}</p>", encoding="utf-8")
    (tmp_path / "list.html").write_text(
        "<html><body><article><h1>Les décisions du sommet</h1><ul>"
        "<li>Un observatoire commun des glaces ouvrira ses portes en 2025 à Tromsø.</li>"
        "<li>Les routes maritimes du Grand Nord seront surveillées par les garde-côtes des huit pays.</li>"
        "</ul></article></body></html>", encoding="utf-8")
    docs = {d.source: d for d in load_corpus(tmp_path)[0]}
    assert docs["fragment.html"].text == ARTICLE
    assert docs["list.html"].text.split("\n\n")[1:] == [  # the list's dashes are not the article's
        "Un observatoire commun des glaces ouvrira ses portes en 2025 à Tromsø.",
        "Les routes maritimes du Grand Nord seront surveillées par les garde-côtes des huit pays."]


def test_html_page_without_article_text_is_skipped_saying_so(tmp_path: Path):
    (tmp_path / "app.html").write_text("<html><head><title>Accueil</title></head><body><script>app()</script>"
                                       "</body></html>", encoding="utf-8")
    (tmp_path / "ok.txt").write_text(ARTICLE, encoding="utf-8")
    docs, warnings = load_corpus(tmp_path)
    assert [d.source for d in docs] == ["ok.txt"]
    assert warnings == ["app.html: no article text found in the page (a list of links, a page built by scripts?); "
                        "skipped."]


def test_an_index_whose_html_articles_beautifulsoup_read_reads_them_again_once(tmp_path: Path, make_settings,
                                                                             embedder, caplog):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    story = next(s for s in stories() if s.file == SPUTNIK)
    (corpus / "page.html").write_text(LAYOUTS["tests' news site"](story)[1], encoding="utf-8")
    (corpus / "note.txt").write_text(ARTICLE, encoding="utf-8")
    settings = make_settings(corpus_dir=corpus)
    assert ingest(settings, embedder).added == ["note.txt", "page.html"]
    generation = current_generation(settings.index_dir)
    assert generation is not None
    manifest = Manifest.load(generation / "manifest.json")
    assert manifest.html_reader == HTML_READER
    manifest.html_reader = ""  # as written when BeautifulSoup read .html files
    (generation / "manifest.json").write_text(manifest.to_json())
    with caplog.at_level(logging.INFO, logger="rag.ingest.run"):
        report = ingest(settings, embedder)
    assert (report.changed, report.unchanged) == (["page.html"], ["note.txt"]) and report.wrote_index
    assert "read by BeautifulSoup: they are read again" in caplog.text
    again = ingest(settings, embedder)
    assert again.changed == [] and not again.wrote_index


def test_windows_1252_article_is_decoded(tmp_path: Path):
    (tmp_path / "ancien.txt").write_bytes(ARTICLE.encode("cp1252"))
    (doc,), warnings = load_corpus(tmp_path)
    assert warnings == []
    assert doc.text == ARTICLE


def test_utf8_bom_is_dropped(tmp_path: Path):
    (tmp_path / "bom.txt").write_bytes(b"\xef\xbb\xbf" + ARTICLE.encode("utf-8"))
    (doc,), _ = load_corpus(tmp_path)
    assert doc.text == ARTICLE


def test_unsupported_and_hidden_files_are_ignored(tmp_path: Path):
    (tmp_path / "a.txt").write_text(ARTICLE, encoding="utf-8")
    (tmp_path / "image.png").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00")
    (tmp_path / ".hidden.txt").write_text(ARTICLE, encoding="utf-8")
    (tmp_path / ".git").mkdir()
    (tmp_path / ".git" / "notes.txt").write_text(ARTICLE, encoding="utf-8")
    docs, warnings = load_corpus(tmp_path)
    assert [d.source for d in docs] == ["a.txt"] and warnings == []


def test_articles_in_subfolders_keep_their_relative_path(tmp_path: Path):
    (tmp_path / "2021" / "janvier").mkdir(parents=True)
    (tmp_path / "2021" / "janvier" / "a.txt").write_text(ARTICLE, encoding="utf-8")
    (doc,), _ = load_corpus(tmp_path)
    assert doc.source == "2021/janvier/a.txt"
    assert doc.doc_id == "2021/janvier/a.txt"


def test_binary_and_undecodable_files_are_skipped_with_a_warning(corpus_copy: Path, caplog):
    (corpus_copy / "binaire.txt").write_bytes(b"PK\x03\x04\x00\x00\x08\x00" + bytes(range(256)) * 8)
    # 0x81/0x8d/0x8f/0x90/0x9d are neither UTF-8 nor Windows-1252
    (corpus_copy / "illisible.txt").write_bytes(b"Un texte \x81\x8d\x8f\x90\x9d illisible " * 20)
    with caplog.at_level(logging.WARNING, logger="rag"):
        docs, warnings = load_corpus(corpus_copy)
    assert len(docs) == 5  # the rest of the corpus still loads
    assert {d.source for d in docs} == {p.name for p in corpus_copy.iterdir()} - {"binaire.txt", "illisible.txt"}
    assert len(warnings) == 2
    assert any("binaire.txt" in w and "binary" in w for w in warnings)
    assert any("illisible.txt" in w for w in warnings)
    logged = " ".join(r.getMessage() for r in caplog.records if r.levelno == logging.WARNING)
    assert "binaire.txt" in logged and "illisible.txt" in logged


def test_load_document_names_the_bad_file(tmp_path: Path):
    bad = tmp_path / "bad.txt"
    bad.write_bytes(b"\x00\x01\x02binary")
    with pytest.raises(CorpusError, match="bad.txt"):
        load_document(bad, "bad.txt")


def test_file_with_no_text_after_cleaning_is_skipped(tmp_path: Path):
    (tmp_path / "a.txt").write_text(ARTICLE, encoding="utf-8")
    (tmp_path / "cookies.txt").write_text("Ce site utilise des cookies.\n\nOK\n\nrussie\n", encoding="utf-8")
    docs, warnings = load_corpus(tmp_path)
    assert [d.source for d in docs] == ["a.txt"]
    assert len(warnings) == 1 and "cookies.txt" in warnings[0]


# --------------------------------------------------------------------------- corpus folder errors


def test_missing_corpus_folder_is_a_clear_error(tmp_path: Path, make_settings, embedder):
    missing = tmp_path / "no-such-folder"
    with pytest.raises(CorpusError) as err:
        load_corpus(missing)
    assert str(missing) in str(err.value) and "does not exist" in str(err.value)
    with pytest.raises(CorpusError, match="does not exist"):
        ingest(make_settings(corpus_dir=missing, warm_cache=False), embedder)


def test_empty_corpus_folder_is_a_clear_error(tmp_path: Path, make_settings, embedder):
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "README").write_text("not an article")
    settings = make_settings(corpus_dir=empty, warm_cache=False)
    with pytest.raises(CorpusError) as err:
        ingest(settings, embedder)
    message = str(err.value)
    assert str(empty) in message
    assert ".txt" in message and ".html" in message  # says what it expected to find
    assert not (settings.index_dir / "CURRENT").exists()


def test_corpus_with_only_unreadable_files_is_a_clear_error(tmp_path: Path, make_settings, embedder):
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "binaire.txt").write_bytes(b"\x00" * 100)
    with pytest.raises(CorpusError) as err:
        ingest(make_settings(corpus_dir=bad, warm_cache=False), embedder)
    assert "No readable article" in str(err.value) and "binaire.txt" in str(err.value)


# --------------------------------------------------------------------------- links and sizes

SECRET = "Le code secret du coffre est 4711. Personne ne doit le lire, ni le citer dans une réponse.\n" * 3


def outside_file(tmp_path: Path) -> Path:
    secret = tmp_path / "outside" / "secret.txt"
    secret.parent.mkdir()
    secret.write_text(SECRET, encoding="utf-8")
    return secret


def test_links_out_of_the_corpus_are_refused_with_a_warning(corpus_copy: Path, tmp_path: Path, caplog):
    secret = outside_file(tmp_path)
    (corpus_copy / "secret-link.txt").symlink_to(secret)
    (corpus_copy / "etc-link").symlink_to(secret.parent, target_is_directory=True)
    (corpus_copy / "inside-link.txt").symlink_to(corpus_copy / "peskov-dialogue-new-start.txt")
    with caplog.at_level(logging.WARNING, logger="rag"):
        scan = scan_corpus(corpus_copy)
    assert set(scan.refused) == {"secret-link.txt", "etc-link"}
    assert "outside the corpus" in scan.refused["secret-link.txt"] and "RAG_FOLLOW_LINKS" in scan.refused["etc-link"]
    assert "inside-link.txt" in scan.files  # a link that stays inside is fine
    logged = " ".join(r.getMessage() for r in caplog.records)
    assert "secret-link.txt" in logged and "etc-link" in logged
    docs, warnings = load_corpus(corpus_copy)
    assert all("4711" not in d.text for d in docs)
    assert any("secret-link.txt" in w for w in warnings)
    followed = scan_corpus(corpus_copy, follow_links=True)
    assert {"secret-link.txt", "etc-link/secret.txt"} <= set(followed.files) and not followed.refused


def test_link_loops_and_odd_files_do_not_hang_the_scan(corpus_copy: Path):
    (corpus_copy / "loop").symlink_to(corpus_copy, target_is_directory=True)
    os.mkfifo(corpus_copy / "pipe.txt")
    (corpus_copy / "dangling.txt").symlink_to(corpus_copy / "no-such-file")
    scan = scan_corpus(corpus_copy, follow_links=True)
    assert "not a regular file" in scan.refused["pipe.txt"]
    assert "cannot be read" in scan.refused["dangling.txt"]
    assert len(scan.files) == 5


def test_too_big_file_is_skipped_without_being_read(corpus_copy: Path, make_settings, embedder):
    big = corpus_copy / "enorme.txt"
    with open(big, "wb") as f:  # 50 MB, sparse: nothing to write, much to read
        f.truncate(50 * 1024 * 1024)
    tracemalloc.start()
    scan = scan_corpus(corpus_copy, max_bytes=Settings(max_file_mb=5).max_file_bytes)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 5 * 1024 * 1024, f"scanning took {peak / 1e6:.0f} MB"
    reason = scan.refused["enorme.txt"]
    assert "enorme.txt" in reason and "50.0 MB" in reason and "RAG_MAX_FILE_MB" in reason
    report = ingest(make_settings(corpus_dir=corpus_copy), embedder)
    assert "enorme.txt" in report.skipped and len(report.added) == 5
    assert "RAG_MAX_FILE_MB" in report.skipped["enorme.txt"].reason
    with pytest.raises(CorpusError, match="RAG_MAX_FILE_MB"):
        load_document(big, "enorme.txt", max_bytes=1000)


def test_uploads_land_inside_the_corpus_whatever_their_name(corpus_copy: Path, tmp_path: Path):
    secret = outside_file(tmp_path)
    upload = tmp_path / "upload"
    upload.write_text(ARTICLE, encoding="utf-8")
    (corpus_copy / "piege.txt").symlink_to(secret)  # a link already at the name
    limit = Settings().max_file_bytes
    names = ["../../evade.txt", "..", "/tmp/absolu.txt", "sous\\dossier\\x.md", "piege.txt", ".cache.txt",
             "é" * 300 + ".txt"]
    upload.write_text(ARTICLE + "Une autre version.\n", encoding="utf-8")  # not the same bytes as the others
    added = [add_files(corpus_copy, [upload], [n], max_bytes=limit)[0] for n in names]
    assert added[:2] == ["evade.txt", "article.txt"]
    for source in added:
        path = corpus_copy / source
        assert "/" not in source and not source.startswith(".") and path.parent == corpus_copy
        assert not path.is_symlink() and len(source.encode()) <= 240
    assert secret.read_text(encoding="utf-8") == SECRET  # never written through the link
    assert "piege-2.txt" in added
    assert not (tmp_path / "evade.txt").exists() and not Path("/tmp/absolu.txt").exists()
    with pytest.raises(CorpusError, match="RAG_MAX_FILE_MB"):
        add_files(corpus_copy, [upload], ["gros.txt"], max_bytes=100)
    assert not (corpus_copy / "gros.txt").exists()


def test_removing_a_linked_article_moves_the_link_not_its_target(corpus_copy: Path):
    target = corpus_copy / "peskov-dialogue-new-start.txt"
    (corpus_copy / "lien.txt").symlink_to(target)
    moved = remove_file(corpus_copy, "lien.txt")
    assert moved.is_symlink() and target.is_file() and not (corpus_copy / "lien.txt").exists()
    for bad in ("../corpus/peskov-dialogue-new-start.txt", "/etc/passwd", "no-such.txt"):
        with pytest.raises(CorpusError, match="no such article"):
            remove_file(corpus_copy, bad)


def test_corpus_of_refused_files_only_says_why(tmp_path: Path, make_settings, embedder):
    corpus = tmp_path / "liens"
    corpus.mkdir()
    (corpus / "secret-link.txt").symlink_to(outside_file(tmp_path))
    with pytest.raises(CorpusError) as err:
        ingest(make_settings(corpus_dir=corpus, warm_cache=False), embedder)
    assert "holds no" in str(err.value) and "secret-link.txt" in str(err.value) and "RAG_FOLLOW_LINKS" in str(err.value)
