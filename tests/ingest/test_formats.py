"""rag.ingest.formats: PDF and DOCX articles, built with reportlab, pypdf and python-docx
(tests/documents.py) from the text of a real article of the corpus, read back as cleaned
text with its paragraphs, title and date; encrypted, scanned and damaged files skipped,
saying why."""

from __future__ import annotations

import io
from datetime import UTC, datetime
from pathlib import Path

import pytest
from documents import HEADLINE, RUNNING_HEADER, docx_bytes, encrypted, pdf_bytes, scanned_pdf, with_metadata
from pypdf import PdfReader
from reportlab.lib.pagesizes import A5
from reportlab.pdfgen import canvas

from rag import Pipeline
from rag.errors import CorpusError
from rag.ingest.corpus import add_files, load_corpus, load_document, parse_document
from rag.ingest.run import ingest

PESKOV = "peskov-dialogue-new-start.txt"
POUTINE = "poutine-interagir-constructive.txt"
# The question set's q012: only the Peskov article answers it ("revenait à la partie américaine").
INITIATIVE = "According to Peskov, which side took the initiative to extend New START by five years?"


# --------------------------------------------------------------------------- building the files


def lines_pdf(*pages: list[str | None], header: str | None = None) -> bytes:
    """A PDF of these pages of lines as drawn, one under the other (None: a blank line),
    with ``header`` and the page number on each page when given."""
    out = io.BytesIO()
    c = canvas.Canvas(out, pagesize=A5)
    for number, lines in enumerate(pages, 1):
        if header:
            c.setFont("Helvetica", 7)
            c.drawString(40, A5[1] - 30, header)
            c.drawString(A5[0] / 2, 20, str(number))
        c.setFont("Helvetica", 10)
        y = A5[1] - 50
        for line in lines:
            if line is not None:
                c.drawString(40, y, line)
            y -= 13
        c.showPage()
    c.save()
    return out.getvalue()


@pytest.fixture(scope="module")
def peskov_paragraphs(corpus_dir: Path) -> list[str]:
    """The Peskov article's paragraphs as the corpus's cleaning keeps them."""
    (doc,), _ = load_corpus(corpus_dir, [PESKOV])
    return doc.text.split("\n\n")


@pytest.fixture(scope="module")
def peskov_pdf(peskov_paragraphs: list[str]) -> bytes:
    return pdf_bytes(peskov_paragraphs, metadata={"/Title": "Peskov : un dialogue «intense» avec Washington",
                                                  "/CreationDate": "D:20210131120000+03'00'"})


# --------------------------------------------------------------------------- PDF


def test_pdf_text_comes_in_paragraphs_without_page_furniture(peskov_pdf: bytes, peskov_paragraphs: list[str]):
    assert len(PdfReader(io.BytesIO(peskov_pdf)).pages) >= 2  # the header, footer and a paragraph cross pages
    doc = parse_document(peskov_pdf, "peskov.pdf")
    # every paragraph as in the .txt article, whole (its lines joined)
    assert doc.text == "\n\n".join([HEADLINE, *peskov_paragraphs])
    assert RUNNING_HEADER not in doc.text and "Page 1" not in doc.text and "Page 2" not in doc.text


def test_pdf_title_and_date_come_from_its_metadata(peskov_pdf: bytes):
    doc = parse_document(peskov_pdf, "peskov.pdf")
    assert doc.title == "Peskov : un dialogue «intense» avec Washington"
    assert doc.date == "2021-01-31"
    assert doc.source == doc.doc_id == "peskov.pdf"


def test_pdf_without_metadata_takes_title_and_date_from_its_text(peskov_paragraphs: list[str]):
    # one page: a running header could not be told from the headline, so there is none
    data = pdf_bytes(["Publié le 31 janvier 2021 à Moscou.", *peskov_paragraphs[:3]], header=None, metadata=None)
    assert "/Title" not in (PdfReader(io.BytesIO(data)).metadata or {})
    doc = parse_document(data, "peskov.pdf")
    assert doc.title == HEADLINE
    assert doc.date == "2021-01-31"
    # a placeholder /Title ("untitled", a file name) is no title
    named = with_metadata(data, {"/Title": "Microsoft Word - peskov.docx"})
    assert parse_document(named, "peskov.pdf").title == HEADLINE


def test_words_hyphenated_at_a_line_break_are_joined():
    data = lines_pdf([
        "Le porte-parole du Kremlin a évoqué les négo-",  # a word cut: one word again
        "ciations sur le traité avec le porte-",          # a compound found whole elsewhere: its hyphen stays
        "parole de la Maison Blanche et celui des États-",  # before a capital: the hyphen stays
        "Unis, mardi soir.",
        None,
        "Un second paragraphe suit, après une ligne vide.",
    ])
    doc = parse_document(data, "tirets.pdf")
    assert doc.text == ("Le porte-parole du Kremlin a évoqué les négociations sur le traité avec le "
                        "porte-parole de la Maison Blanche et celui des États-Unis, mardi soir.\n\n"
                        "Un second paragraphe suit, après une ligne vide.")


def test_a_paragraph_split_by_a_page_break_is_kept_whole():
    data = lines_pdf(["Le premier paragraphe, court et complet.", None,
                      "Le second paragraphe commence sur cette page et se poursuit sur la"],
                     ["suivante, où il se termine.", None, "Un troisième paragraphe."],
                     header="Le Journal du soir — 31 janvier 2021")
    assert parse_document(data, "pages.pdf").text == (
        "Le premier paragraphe, court et complet.\n\n"
        "Le second paragraphe commence sur cette page et se poursuit sur la suivante, où il se termine.\n\n"
        "Un troisième paragraphe.")


def test_pdf_encrypted_only_against_changes_is_read(peskov_pdf: bytes, peskov_paragraphs: list[str]):
    # no password to open it, one to print or edit it: any viewer opens it, so is it indexed
    doc = parse_document(encrypted(peskov_pdf, user_password=""), "protege.pdf")
    assert doc.text.endswith(peskov_paragraphs[-1])


# --------------------------------------------------------------------------- DOCX


def test_docx_paragraphs_title_and_date(peskov_paragraphs: list[str]):
    data = docx_bytes(peskov_paragraphs, heading=HEADLINE, title="Peskov et New START",
                      created=datetime(2021, 1, 31, 9, 30, tzinfo=UTC))
    doc = parse_document(data, "peskov.docx")
    assert doc.text == "\n\n".join([HEADLINE, *peskov_paragraphs])
    assert doc.title == "Peskov et New START"  # the core properties' title
    assert doc.date == "2021-01-31"             # created


def test_docx_without_properties_takes_its_first_heading_and_the_date_in_its_text(peskov_paragraphs: list[str]):
    data = docx_bytes(["Moscou, 1er février 2021.", *peskov_paragraphs[:3]], heading=HEADLINE)
    doc = parse_document(data, "peskov.docx")
    assert doc.title == HEADLINE
    assert doc.date == "2021-02-01"  # not python-docx's template date (2013-12-23)


# --------------------------------------------------------------------------- bad files


def truncated(data: bytes) -> bytes:
    return data[: len(data) * 2 // 3]


@pytest.mark.parametrize("name,make,message", [
    ("secret.pdf", lambda pdf: encrypted(pdf, user_password="s3cret"), "secret.pdf: encrypted PDF; skipped."),
    ("scan.pdf", lambda pdf: scanned_pdf(), "scan.pdf: no text layer (a scanned PDF?); skipped."),
    ("cut.pdf", truncated, "cut.pdf: not a readable PDF ("),
    ("notes.pdf", lambda pdf: b"%PDF-1.4\nnot really a PDF\n", "notes.pdf: not a readable PDF ("),
    ("cut.docx", lambda pdf: truncated(docx_bytes(["Un paragraphe."])), "cut.docx: not a readable DOCX ("),
    ("text.docx", lambda pdf: "Un texte nommé .docx".encode(), "text.docx: not a readable DOCX ("),
    ("old.docx", lambda pdf: b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(600), "old.docx: a password-protected or old"),
])
def test_unreadable_pdf_and_docx_are_refused_saying_why(peskov_pdf: bytes, name, make, message):
    with pytest.raises(CorpusError) as err:
        parse_document(make(peskov_pdf), name)
    assert str(err.value).startswith(message)
    assert str(err.value).rstrip().endswith(".") and "Traceback" not in str(err.value)


def test_a_pdf_over_the_size_limit_is_refused_before_it_is_parsed(tmp_path: Path, peskov_pdf: bytes):
    (tmp_path / "gros.pdf").write_bytes(peskov_pdf)
    with pytest.raises(CorpusError, match="gros.pdf: .* over the .* RAG_MAX_FILE_MB"):
        load_document(tmp_path / "gros.pdf", "gros.pdf", max_bytes=len(peskov_pdf) - 1)


def test_uploads_take_pdf_and_docx_and_refuse_damaged_ones(tmp_path: Path, peskov_pdf: bytes):
    corpus = tmp_path / "corpus"
    upload = tmp_path / "tmp-upload"  # browsers' temp names carry no suffix: the name given decides
    upload.write_bytes(peskov_pdf)
    assert add_files(corpus, [upload], ["Peskov.pdf"], max_bytes=10**7) == ["Peskov.pdf"]
    upload.write_bytes(truncated(peskov_pdf))
    with pytest.raises(CorpusError, match=r"abime\.pdf: not a readable PDF"):
        add_files(corpus, [upload], ["abime.pdf"], max_bytes=10**7)
    assert sorted(p.name for p in corpus.iterdir()) == ["Peskov.pdf"]


# --------------------------------------------------------------------------- ingest and ask


def test_a_corpus_with_pdf_and_docx_articles_is_indexed_and_cited(corpus_copy: Path, make_settings, embedder,
                                                                  peskov_pdf: bytes, peskov_paragraphs: list[str]):
    # two articles of the corpus as a PDF and a DOCX (their .txt taken out: the same text twice is one article)
    (corpus_copy / PESKOV).unlink()
    (corpus_copy / "peskov.pdf").write_bytes(peskov_pdf)
    (poutine,), _ = load_corpus(corpus_copy, [POUTINE])
    (corpus_copy / POUTINE).unlink()
    (corpus_copy / "poutine.docx").write_bytes(docx_bytes(poutine.text.split("\n\n")))
    # and the files that cannot be read
    (corpus_copy / "secret.pdf").write_bytes(encrypted(peskov_pdf, user_password="s3cret"))
    (corpus_copy / "scan.pdf").write_bytes(scanned_pdf())
    (corpus_copy / "cut.pdf").write_bytes(truncated(peskov_pdf))
    (corpus_copy / "cut.docx").write_bytes(truncated(docx_bytes(peskov_paragraphs)))

    settings = make_settings(corpus_dir=corpus_copy)
    report = ingest(settings, embedder)
    assert sorted(report.added) == sorted(["peskov.pdf", "poutine.docx", *(
        p.name for p in corpus_copy.glob("*.txt"))])
    skipped = {source: why.reason for source, why in report.skipped.items()}
    assert sorted(skipped) == ["cut.docx", "cut.pdf", "scan.pdf", "secret.pdf"]
    assert skipped["secret.pdf"].startswith("secret.pdf: encrypted PDF; skipped.")
    assert skipped["scan.pdf"].startswith("scan.pdf: no text layer (a scanned PDF?); skipped.")
    assert skipped["cut.pdf"].startswith("cut.pdf: not a readable PDF (")
    assert skipped["cut.docx"].startswith("cut.docx: not a readable DOCX (")

    p = Pipeline.from_settings(settings, embedder=embedder, ingest_if_missing=False)
    try:
        assert p.document("poutine.docx").text == poutine.text
        answer = p.ask(INITIATIVE)
        assert not answer.abstained
        cited = answer.citations[0]
        assert cited.doc_id == "peskov.pdf" and "partie américaine" in cited.passage
        text = p.document("peskov.pdf").text  # offsets point into the cleaned text, as for any article
        assert text[cited.start:cited.end] == cited.passage
        assert text[cited.quote_start:cited.quote_end] == cited.quote
    finally:
        p.close()


def test_a_folder_of_damaged_files_only_names_each(tmp_path: Path):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "scan.pdf").write_bytes(scanned_pdf())
    (corpus / "vide.docx").write_bytes(b"")
    docs, warnings = load_corpus(corpus)
    assert docs == []
    assert sorted(w.split(":")[0] for w in warnings) == ["scan.pdf", "vide.docx"]
