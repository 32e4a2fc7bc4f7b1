"""HTML templates → PDF with WeasyPrint.

Reports never fetch anything over the network: images (photos, SVG charts and maps) are
embedded as data: URIs, and the URL fetcher refuses every other URL, so a report renders
the same on an app server, a task worker or a machine without internet.
"""

from __future__ import annotations

import base64
from typing import Any

from django.template.loader import render_to_string


def data_uri(content: bytes | str, content_type: str) -> str:
    raw = content.encode() if isinstance(content, str) else content
    return f"data:{content_type};base64,{base64.b64encode(raw).decode('ascii')}"


def svg_uri(svg: str) -> str:
    return data_uri(svg, "image/svg+xml")


def render_html(template: str, context: dict[str, Any]) -> str:
    return render_to_string(template, context)


def html_to_pdf(html: str) -> bytes:
    from weasyprint import HTML  # heavy import, only where a PDF is made
    from weasyprint.urls import URLFetcher

    fetcher = URLFetcher(allowed_protocols={"data"})
    return HTML(string=html, url_fetcher=fetcher).write_pdf()


def render_pdf(template: str, context: dict[str, Any]) -> bytes:
    return html_to_pdf(render_html(template, context))
