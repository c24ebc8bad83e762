"""PDF and DOCX articles at a URL, against the ``news_site`` fixture (a real HTTP server on
127.0.0.1): a PDF made with reportlab and a DOCX made with python-docx from shipped articles'
text, listed in a feed or given as a URL (served as ``application/octet-stream``), are
stored as ``<slug>.md`` with their address in the front matter, indexed and cited with it;
an encrypted PDF, a scanned one (no text layer) and garbage served as ``application/pdf``
are skipped, each named with the reason, and nothing indexed before is lost."""

from __future__ import annotations

from pathlib import Path

from documents import docx_bytes, encrypted, pdf_bytes, scanned_pdf
from helpers import CORPUS_FILES

from rag import Pipeline
from rag.ingest.corpus import load_corpus
from rag.ingest.frontmatter import split_front_matter

PESKOV = "peskov-dialogue-new-start.txt"
POUTINE = "poutine-interagir-constructive.txt"
APPEL = "appel-poutine-biden-ukraine.txt"
PDF_TITLE = "Peskov : un dialogue «intense» avec Washington"
APPEL_HEADLINE = "Ukraine : Poutine et Biden au téléphone"
DOCX_TYPE = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
# The question set's q012: only the Peskov article answers it ("revenait à la partie américaine").
INITIATIVE = "According to Peskov, which side took the initiative to extend New START by five years?"


def publish_documents(site, corpus: Path) -> dict[str, str]:
    """The shipped articles PESKOV (a PDF with metadata), POUTINE (a DOCX whose first heading
    is its title) and APPEL (a PDF without metadata, served as application/octet-stream), a
    copy of the PDF elsewhere, and the bad PDFs, on ``site``; a feed listing the PDF, the DOCX
    and the bad ones. Their texts are taken out of ``corpus`` (the same text twice is one
    article). Returns path -> URL."""
    docs = {}
    for name in (PESKOV, POUTINE, APPEL):
        (doc,), _ = load_corpus(corpus, [name])
        docs[name] = doc.text.split("\n\n")
        (corpus / name).unlink()
    route = type(site.routes["/robots.txt"])
    peskov = pdf_bytes(docs[PESKOV], metadata={"/Title": PDF_TITLE, "/CreationDate": "D:20210131120000+03'00'"})
    site.routes["/files/peskov.pdf"] = route(body=peskov, content_type="application/pdf")
    site.routes["/mirror/peskov.pdf"] = route(body=peskov, content_type="application/pdf")
    site.routes["/files/poutine.docx"] = route(body=docx_bytes(docs[POUTINE][1:], heading=docs[POUTINE][0]),
                                               content_type=DOCX_TYPE)
    site.routes["/download?id=7"] = route(body=pdf_bytes(docs[APPEL], headline=APPEL_HEADLINE, header=None,
                                                         metadata=None), content_type="application/octet-stream")
    site.routes["/files/secret.pdf"] = route(body=encrypted(peskov, user_password="s3cret"),
                                             content_type="application/pdf")
    site.routes["/files/scan.pdf"] = route(body=scanned_pdf(), content_type="application/pdf")
    site.routes["/files/garbage.pdf"] = route(body=b"%PDF-1.4\n" + bytes(range(256)) * 8,
                                              content_type="application/pdf")
    urls = {path: site.url(path) for path in site.routes if path.startswith(("/files/", "/mirror/", "/download"))}
    items = [(urls["/files/peskov.pdf"], "Peskov et New START", "2021-02-01", "Marie Dupont"),
             (urls["/files/poutine.docx"], "Vœux de Poutine", "2020-12-25", None),
             *[(urls[p], p, "2022-01-01", None) for p in ("/files/secret.pdf", "/files/scan.pdf", "/files/garbage.pdf")]]
    site.routes["/documents.xml"] = route(body=site.rss(items), content_type="application/rss+xml")
    urls["/documents.xml"] = site.url("/documents.xml")
    return urls


def test_pdf_and_docx_urls_are_stored_indexed_and_cited_bad_ones_skipped(news_site, corpus_copy, make_settings,
                                                                          embedder):
    urls = publish_documents(news_site, corpus_copy)
    settings = make_settings(corpus_dir=corpus_copy)
    pipeline = Pipeline.from_settings(settings, embedder=embedder)  # the two articles left, indexed
    lines: list[str] = []
    try:
        report = pipeline.library.add_urls([urls["/download?id=7"]], feeds=[urls["/documents.xml"]],
                                           allow_private=True, notify=lines.append)
        said = "\n".join(lines)
        assert report.summary() == (f"3 added, 0 updated, 0 unchanged, 3 failed; 6 pages in {report.seconds:.1f} s "
                                    f"({6 / report.seconds:.1f}/s)")
        # the bad ones, each named with its reason
        failed = {e.url: (e.kind, e.reason) for e in report.failed}
        assert failed == {
            urls["/files/secret.pdf"]: ("unreadable", "encrypted PDF; skipped. Save it without a password to "
                                                      "index it."),
            urls["/files/scan.pdf"]: ("unreadable", failed[urls["/files/scan.pdf"]][1]),
            urls["/files/garbage.pdf"]: ("unreadable", failed[urls["/files/garbage.pdf"]][1]),
        }
        assert failed[urls["/files/scan.pdf"]][1].startswith("no text layer (a scanned PDF?); skipped.")
        assert failed[urls["/files/garbage.pdf"]][1].startswith("not a readable PDF (")
        for path in ("/files/secret.pdf", "/files/scan.pdf", "/files/garbage.pdf"):
            assert f"failed: {urls[path]}: " in said

        # stored as <slug>.md, the metadata in the front matter
        files = {p.name: split_front_matter(p.read_text(encoding="utf-8"), p.name) for p in corpus_copy.glob("*.md")}
        by_url = {meta.url: (name, meta, text) for name, (meta, text) in files.items()}
        assert set(by_url) == {urls["/files/peskov.pdf"], urls["/files/poutine.docx"], urls["/download?id=7"]}
        name, meta, text = by_url[urls["/files/peskov.pdf"]]
        # the PDF's /Title; the feed's date wins over the PDF's own (2021-01-31), as for a page
        assert (name, meta.title, meta.date, meta.author, meta.outlet) == (
            "peskov-un-dialogue-intense-avec-washington.md", PDF_TITLE, "2021-02-01", "Marie Dupont", "127.0.0.1")
        assert "revenait à la partie américaine" in text and "Page 1" not in text
        name, meta, _ = by_url[urls["/files/poutine.docx"]]
        assert meta.title.startswith("Poutine : la Russie et les États-Unis") and meta.date == "2020-12-25"
        name, meta, _ = by_url[urls["/download?id=7"]]  # no metadata, no feed: the first line is its title
        assert (meta.title, meta.date) == (APPEL_HEADLINE, None)

        # indexed with the articles indexed before, and cited with the document's address
        assert report.ingest is not None and sorted(report.ingest.added) == sorted(files)
        indexed = {doc.source for doc, _ in pipeline.library.articles()}
        assert indexed == set(files) | (set(CORPUS_FILES) - {PESKOV, POUTINE, APPEL})
        answer = pipeline.ask(INITIATIVE)
        assert not answer.abstained
        cited = answer.citations[0]
        assert cited.url == urls["/files/peskov.pdf"] and cited.doc_id == by_url[cited.url][0]
        assert pipeline.document(by_url[urls["/files/poutine.docx"]][0]).url == urls["/files/poutine.docx"]

        # again, and a copy elsewhere: each document once, by address and by text
        lines.clear()
        again = pipeline.library.add_urls([urls["/download?id=7"], urls["/mirror/peskov.pdf"]],
                                          feeds=[urls["/documents.xml"]], allow_private=True, notify=lines.append)
        assert again.summary().startswith("0 added, 0 updated, 3 unchanged, 1 same text as another URL, 3 failed")
        assert (f"warning: {urls['/mirror/peskov.pdf']} holds the same text as {urls['/files/peskov.pdf']} "
                f"(stored as {by_url[urls['/files/peskov.pdf']][0]}); not stored again.") in "\n".join(lines)
        assert again.ingest is None
    finally:
        pipeline.close()
