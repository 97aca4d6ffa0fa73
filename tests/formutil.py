"""What a browser would send for a form of a page: shared by the page tests (tests/web,
tests/design) and the load test (tests/load), which post real forms."""

from __future__ import annotations

from html.parser import HTMLParser


class FormValues(HTMLParser):
    """The successful controls of the first form whose class attribute has `css` (the
    record form by default): checked boxes, the selected options (else a single select's
    first), textareas; disabled controls and those of another form (`form=`) are not sent."""

    def __init__(self, css: str = "record-form"):
        super().__init__(convert_charrefs=True)
        self.css = css
        self.values: list[tuple[str, str]] = []
        self.state = "before"
        self.select = None
        self.textarea = None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "form" and self.state == "before" and self.css in (a.get("class") or "").split():
            self.state = "inside"
            return
        if self.state != "inside" or "form" in a or "disabled" in a:
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
        if self.state != "inside":
            return
        if tag == "form":
            self.state = "after"
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


def form_values(html: str, css: str = "record-form") -> list[tuple[str, str]]:
    parser = FormValues(css)
    parser.feed(html)
    assert parser.state != "before", f"no form of class {css!r} on the page"
    return parser.values
