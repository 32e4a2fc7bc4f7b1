"""Checks on rendered pages shared by the test folders."""

from __future__ import annotations

import re
from collections import Counter


def duplicate_ids(html: str) -> list[str]:
    """Element ids used more than once: a label's ``for`` would then point at the wrong field."""
    counts = Counter(re.findall(r'\sid="([^"]+)"', html))
    return sorted(i for i, n in counts.items() if n > 1)


def dangling_references(html: str) -> list[str]:
    """``aria-describedby`` and ``label for`` values that name no element of the page (a
    screen reader then reads no help or error, a click on the label focuses nothing)."""
    ids = set(re.findall(r'\sid="([^"]+)"', html))
    refs = re.findall(r'\saria-describedby="([^"]*)"', html)
    named = [i for ref in refs for i in ref.split()]
    named += re.findall(r'<label[^>]*\sfor="([^"]*)"', html)
    return sorted({i for i in named if i not in ids})


def post_form_data(html: str, action: str) -> dict[str, list[str]]:
    """What a browser would send from the POST form whose ``action`` is given (a form with no
    action posts to its page: pass the page's URL), as opened (hidden inputs included;
    checked boxes only; each select's selected options)."""
    from html.parser import HTMLParser

    class Reader(HTMLParser):
        def __init__(self) -> None:
            super().__init__(convert_charrefs=True)
            self.inside = False
            self.data: dict[str, list[str]] = {}
            self.select: str | None = None
            self.textarea: str | None = None

        def handle_starttag(self, tag: str, attrs: list) -> None:
            a = {k: v if v is not None else "" for k, v in attrs}
            if tag == "form":
                self.inside = (
                    a.get("method", "").lower() == "post" and a.get("action", action) == action
                )
            elif not self.inside or "disabled" in a:
                return
            elif tag == "input" and a.get("name"):
                kind = a.get("type", "text")
                if kind in ("checkbox", "radio") and "checked" not in a:
                    return
                if kind not in ("submit", "button", "file"):
                    self.data.setdefault(a["name"], []).append(
                        a.get("value", "on" if kind == "checkbox" else "")
                    )
            elif tag == "select":
                self.select = a.get("name")
            elif tag == "option" and self.select and "selected" in a:
                self.data.setdefault(self.select, []).append(a.get("value", ""))
            elif tag == "textarea" and a.get("name"):
                self.textarea = a["name"]
                self.data.setdefault(self.textarea, []).append("")

        def handle_endtag(self, tag: str) -> None:
            if tag == "form":
                self.inside = False
            elif tag == "select":
                self.select = None
            elif tag == "textarea":
                self.textarea = None

        def handle_data(self, text: str) -> None:
            if self.textarea:
                self.data[self.textarea][-1] += text.removeprefix("\n")

    reader = Reader()
    reader.feed(html)
    assert reader.data, f"no POST form with action {action!r}"
    return reader.data
