"""Which query and form keys a request handler reads.

`track_reads(app)` gives the app a request class whose `args` and `form` are multi dicts that
note every key looked up (`[key]`, `get`, `getlist`, `in`, through `request.values` too).
Anything that can see keys it did not name (iterating, `keys()`, `items()`, `to_dict()`, `len()`,
truth value, copying, comparing) marks the whole dict as read. Reading the raw query string
(`request.full_path`, `request.url`, `request.query_string`) is noted apart (`Reads.raw`).

The edge fuzz (test_edge_fuzz.py) uses it to send bad values to exactly the keys each route
reads: a key the handler never reads cannot change what it does.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from flask import Request
from werkzeug.datastructures import ImmutableMultiDict
from werkzeug.utils import cached_property

SOURCES = ("args", "form")


@dataclass
class Reads:
    keys: dict[str, set[str]] = field(default_factory=lambda: {s: set() for s in SOURCES})
    everything: set[str] = field(default_factory=set)  # sources read as a whole
    raw: bool = False  # the raw query string was read (request.full_path, .url, .query_string)

    def reset(self) -> None:
        for keys in self.keys.values():
            keys.clear()
        self.everything.clear()
        self.raw = False

    def of(self, source: str, all_keys) -> set[str]:
        """The keys of `source` the requests since `reset` read; `all_keys` stands for 'every key'."""
        found = set(self.keys[source])
        if source in self.everything:
            found |= set(all_keys)
        return found


def _noting_one(name):
    base = getattr(ImmutableMultiDict, name)

    def method(self, key, *args, **kwargs):
        self._note(key)
        return base(self, key, *args, **kwargs)

    method.__name__ = name
    return method


def _noting_all(name):
    base = getattr(ImmutableMultiDict, name)

    def method(self, *args, **kwargs):
        self._note_all()
        return base(self, *args, **kwargs)

    method.__name__ = name
    return method


class TrackedDict(ImmutableMultiDict):
    _reads: Reads | None = None
    _source = ""

    def _note(self, key) -> None:
        if self._reads is not None:
            self._reads.keys[self._source].add(key)

    def _note_all(self) -> None:
        if self._reads is not None:
            self._reads.everything.add(self._source)

    for _name in ("__getitem__", "__contains__", "get", "getlist"):
        locals()[_name] = _noting_one(_name)
    for _name in ("__iter__", "__len__", "__eq__", "__ne__", "__repr__", "__reduce_ex__", "__copy__",
                  "__deepcopy__", "keys", "values", "items", "lists", "listvalues", "to_dict", "copy",
                  "deepcopy"):
        locals()[_name] = _noting_all(_name)
    del _name

    def __bool__(self) -> bool:  # dict has no __bool__: truth comes from __len__, noted above
        return len(self) > 0

    __hash__ = ImmutableMultiDict.__hash__


def tracked(data: ImmutableMultiDict, reads: Reads, source: str) -> TrackedDict:
    copy = TrackedDict(list(ImmutableMultiDict.items(data, multi=True)))
    copy._reads, copy._source = reads, source
    return copy


class TrackingRequest(Request):
    reads: Reads  # set by track_reads on a subclass per app

    @cached_property
    def args(self):
        self.__dict__["_parsing"] = True  # werkzeug reads query_string to parse it: not the handler
        try:
            return tracked(Request.args.fget(self), self.reads, "args")
        finally:
            self.__dict__["_parsing"] = False

    def _load_form_data(self) -> None:
        super()._load_form_data()
        if not isinstance(self.__dict__["form"], TrackedDict):
            self.__dict__["form"] = tracked(self.__dict__["form"], self.reads, "form")

    @property
    def query_string(self):
        if not self.__dict__.get("_parsing"):
            self.reads.raw = True
        return self.__dict__["_query_string"]

    @query_string.setter
    def query_string(self, value):
        self.__dict__["_query_string"] = value

    @cached_property
    def full_path(self):
        self.reads.raw = True
        return Request.full_path.fget(self)

    @cached_property
    def url(self):
        self.reads.raw = True
        return Request.url.fget(self)


def track_reads(app) -> Reads:
    """Make `app` note the keys its handlers read; returns the notes (reset them between requests)."""
    reads = Reads()
    app.request_class = type("TrackedRequest", (TrackingRequest,), {"reads": reads})
    return reads
