"""What a browser would send for the record form of a page: shared by the page tests
(tests/web) and the load test (tests/load), which post real forms."""

from __future__ import annotations

from html.parser import HTMLParser


class FormValues(HTMLParser):
    """What a browser sends for the record form of a page (successful controls only)."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.values: list[tuple[str, str]] = []
        self.inside = False
        self.select = None
        self.textarea = None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "form" and "record-form" in (a.get("class") or ""):
            self.inside = True
        if not self.inside or "form" in a and tag != "form":
            return
        if tag == "input" and "name" in a:
            kind = a.get("type", "text")
            if kind in ("checkbox", "radio"):
                if "checked" in a:
                    self.values.append((a["name"], a.get("value") or "on"))
            elif kind not in ("submit", "button", "reset", "image", "file"):
                self.values.append((a["name"], a.get("value") or ""))
        elif tag == "select" and "name" in a:
            self.select = {"name": a["name"], "selected": [], "first": None, "multiple": "multiple" in a}
        elif tag == "option" and self.select is not None:
            if self.select["first"] is None:
                self.select["first"] = a.get("value", "")
            if "selected" in a:
                self.select["selected"].append(a.get("value", ""))
        elif tag == "textarea" and "name" in a:
            self.textarea = [a["name"], ""]

    def handle_endtag(self, tag):
        if tag == "form" and self.inside:
            self.inside = False
        elif tag == "select" and self.select is not None:
            chosen = self.select["selected"] or ([] if self.select["multiple"] else [self.select["first"]])
            self.values += [(self.select["name"], v) for v in chosen if v is not None]
            self.select = None
        elif tag == "textarea" and self.textarea is not None:
            self.values.append((self.textarea[0], self.textarea[1].removeprefix("\n").removeprefix("\r\n")))
            self.textarea = None

    def handle_data(self, data):
        if self.textarea is not None:
            self.textarea[1] += data


def form_values(html: str) -> list[tuple[str, str]]:
    parser = FormValues()
    parser.feed(html)
    assert parser.values, "no record form on the page"
    return parser.values
