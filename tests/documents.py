"""PDF and DOCX articles built for the tests, from an article's paragraphs: a typeset PDF
(reportlab) with a headline, a running header and page numbers, a scanned one (an image,
no text layer), an encrypted one (pypdf), a DOCX (python-docx). tests/ingest/test_formats.py
reads them from the corpus folder; tests/sources/test_documents.py fetches them."""

from __future__ import annotations

import io
from datetime import datetime
from typing import Any
from xml.sax.saxutils import escape

import docx
from pypdf import PdfWriter
from reportlab.lib.enums import TA_JUSTIFY
from reportlab.lib.pagesizes import A5
from reportlab.lib.styles import ParagraphStyle, getSampleStyleSheet
from reportlab.lib.utils import ImageReader
from reportlab.pdfgen import canvas
from reportlab.platypus import Paragraph, SimpleDocTemplate

HEADLINE = "Le Kremlin salue un dialogue «assez intense» avec Washington"
RUNNING_HEADER = "Revue de presse — Russie et États-Unis"


def pdf_bytes(paragraphs: list[str], *, headline: str | None = HEADLINE, header: str | None = RUNNING_HEADER,
              metadata: dict[str, Any] | None = None) -> bytes:
    """A typeset PDF (A5, justified, so that the article runs over pages) with a headline, a
    running header and a page number at each page's foot; ``metadata`` replaces reportlab's
    (None: no /Title nor /CreationDate at all)."""
    styles = getSampleStyleSheet()
    body = ParagraphStyle("body", parent=styles["BodyText"], alignment=TA_JUSTIFY, spaceAfter=6)

    def furniture(c: canvas.Canvas, doc: Any) -> None:
        c.setFont("Helvetica", 7)
        if header:
            c.drawString(40, A5[1] - 30, header)
        c.drawString(A5[0] / 2, 20, f"Page {doc.page}")

    out = io.BytesIO()
    story = [Paragraph(escape(headline), styles["Title"])] if headline else []
    story += [Paragraph(escape(p), body) for p in paragraphs]
    SimpleDocTemplate(out, pagesize=A5).build(story, onFirstPage=furniture, onLaterPages=furniture)
    return with_metadata(out.getvalue(), metadata or {})


def with_metadata(data: bytes, metadata: dict[str, Any]) -> bytes:
    """The PDF with exactly this document information (reportlab always writes its own)."""
    writer = PdfWriter(clone_from=io.BytesIO(data))
    writer.metadata = None
    if metadata:
        writer.add_metadata(metadata)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def scanned_pdf() -> bytes:
    """A PDF whose page is only an image, as a scanner makes it: no text layer."""
    from PIL import Image, ImageDraw

    image = Image.new("L", (400, 200), 255)
    ImageDraw.Draw(image).text((10, 10), "Le Kremlin et New START", fill=0)
    out = io.BytesIO()
    c = canvas.Canvas(out, pagesize=A5)
    c.drawImage(ImageReader(image), 20, 300, width=380, height=190)
    c.save()
    return out.getvalue()


def encrypted(data: bytes, user_password: str) -> bytes:
    writer = PdfWriter(clone_from=io.BytesIO(data))
    writer.encrypt(user_password=user_password, owner_password="owner-secret", algorithm="RC4-128")
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def docx_bytes(paragraphs: list[str], *, heading: str | None = None, title: str | None = None,
               created: datetime | None = None) -> bytes:
    document = docx.Document()
    if heading:
        document.add_heading(heading, level=1)
    for p in paragraphs:
        document.add_paragraph(p)
    if title is not None:
        document.core_properties.title = title
    if created is not None:
        document.core_properties.created = created
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()
