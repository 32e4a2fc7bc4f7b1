"""Text of a PDF for content checks, without a PDF library in the dependencies.

WeasyPrint's own PDFs store text as glyph ids, so the bytes cannot be searched. Instead the
report's HTML is laid out again with WeasyPrint and the text of every page box is collected:
what a reader sees, page by page. The PDF bytes themselves are checked for header, page count
and size.
"""

from __future__ import annotations

import re
import zlib


def layout_text(html: str) -> list[str]:
    from weasyprint import HTML
    from weasyprint.formatting_structure import boxes

    doc = HTML(string=html).render()
    pages = []
    for page in doc.pages:
        parts = [b.text for b in page._page_box.descendants() if isinstance(b, boxes.TextBox)]
        pages.append(" ".join(" ".join(parts).split()))  # whitespace as a reader sees it
    return pages


def _objects(pdf: bytes) -> bytes:
    """The PDF with its compressed streams (object streams included) inflated."""
    out = [pdf]
    # The end-of-line before "endstream" is not stripped: compressed data may itself end in a
    # CR byte, and stripping it broke the stream about once in 256 PDFs. A decompress object
    # stops at the end of the zlib data and leaves the trailing EOL in unused_data.
    for m in re.finditer(rb"stream\r?\n(.*?)endstream", pdf, re.S):
        try:
            out.append(zlib.decompressobj().decompress(m.group(1)))
        except zlib.error:
            continue
    return b"\n".join(out)


def page_count(pdf: bytes) -> int:
    return len(re.findall(rb"/Type\s*/Page(?![a-zA-Z])", _objects(pdf)))


def assert_pdf(pdf: bytes, *, min_bytes: int = 5000) -> None:
    assert pdf.startswith(b"%PDF-1."), pdf[:20]
    assert pdf.rstrip().endswith(b"%%EOF")
    assert len(pdf) >= min_bytes
    assert page_count(pdf) >= 1


def boxes_past_the_right_margin(html: str, element: str, class_: str) -> list[tuple[int, float]]:
    """(page number, points past the right margin) of each ``element.class_`` box (every
    ``element`` when ``class_`` is empty) laid out wider than the page's content area (a box
    that does not fit is cut off on paper)."""
    from weasyprint import HTML

    doc = HTML(string=html).render()
    out = []
    for number, page in enumerate(doc.pages, start=1):
        box = page._page_box
        right = box.content_box_x() + box.width
        for b in box.descendants():
            if getattr(b, "element_tag", "") != element or b.element is None:
                continue
            if class_ and class_ not in (b.element.get("class") or "").split():
                continue
            past = b.border_box_x() + b.border_width() - right
            if past > 0.5:
                out.append((number, round(past, 1)))
    return out
