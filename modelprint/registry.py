"""A tiny typed registry: ``@REG.register("name")`` on a class or factory, ``REG.make("name", **kw)``.

A registry with an entry-point ``group`` is extended by installed packages (plugins): an entry point
``name = package.module:obj`` in group ``modelprint.<kind>s`` registers ``obj`` under ``name`` the first
time that name is asked for or the names are listed, in whatever process asks (the CLI, a local worker, a
Dask worker), so a user's package extends modelprint without forking it. A plugin that fails to load, or
that reuses a built-in name, is left out with one warning line."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from importlib.metadata import EntryPoint, entry_points
from typing import Generic, TypeVar

T = TypeVar("T")
log = logging.getLogger(__name__)
_ENTRY_POINTS: dict[str, list[EntryPoint]] = {}
"""Installed entry points per group, read once per process (:func:`refresh_plugins` reads them again)."""


def refresh_plugins() -> None:
    """Read the installed plugins again (after installing a package into a running process)."""
    import importlib

    importlib.invalidate_caches()
    _ENTRY_POINTS.clear()


_SIGNATURE = re.compile(r"^``[^`]*``\s*[:.]\s*")
_TAGS = re.compile(r"\s*(\[[PCDQR]\])+")
_ROLE = re.compile(r":[a-z]+:`~?([^`]*)`")
SUMMARY_CHARS = 150
"""The longest one-line summary ``modelprint list`` prints."""
_NOT_AN_END = ("al", "e.g", "i.e", "i.i.d", "vs", "cf", "approx", "resp", "etc")


def plain_sentence(doc: str) -> str:
    """The first sentence of a docstring in plain words: no call signature in front, no provenance tags
    (``[P]`` and friends), no references to our docs pages and no reStructuredText markup (what
    ``modelprint list`` shows)."""
    text = " ".join(doc.split())
    text = _SIGNATURE.sub("", text)
    text = _ROLE.sub(lambda m: m.group(1).rsplit(".", 1)[-1], text)
    text = _TAGS.sub("", text).replace("``", "")
    text = re.sub(r"[,;]?\s*\(?see\s+docs/[\w./#-]+\)?|[,;]?\s*docs/[\w./#-]+", "", text)  # our docs pages
    text = re.sub(r"\(\s*[,;:]\s*", "(", text)  # what a removed tag or reference leaves behind
    text = re.sub(r"\s*\(\s*\)", "", text)
    text = re.sub(r"\s+([,;:)])", r"\1", text)
    text = re.sub(r"[,;]\)", ")", text)
    for m in re.finditer(r"([.;:])\s+(?=[A-Z(*])", text):
        word = text[: m.start()].rsplit(" ", 1)[-1].lower()
        if m.group(1) == "." and word.strip(".()") not in _NOT_AN_END:
            text = text[: m.start() + 1]
            break
    text = _shortened(text.strip())
    return text[:1].upper() + text[1:]


def _shortened(text: str, limit: int = SUMMARY_CHARS) -> str:
    """``text`` within ``limit`` characters (:func:`_clauses`); parenthetical remarks go first when no
    clause boundary outside them would do."""
    short = _clauses(text, limit)
    if len(short) > limit:
        short = _clauses(re.sub(r"\s*\([^()]*\)", "", text), limit)
    return short


def _clauses(text: str, limit: int) -> str:
    """``text`` if it fits in ``limit`` characters, else its longest leading clauses that do (cut after a
    ``;``, a ``,`` or a ``:`` outside parentheses), ending in a full stop: never a cut-off word."""
    if len(text) <= limit:
        return text if text.endswith((".", "!", "?")) else text + "."
    depth, best = 0, -1
    for i, ch in enumerate(text[:limit]):
        depth += {"(": 1, ")": -1}.get(ch, 0)
        if ch in ";,:" and depth == 0 and i > 20:
            best = i
    if best < 0:
        return text if text.endswith(".") else text + "."
    return text[:best].rstrip() + "."


class UnknownNameError(KeyError):
    """Raised when a registry has no entry under the requested name."""

    def __str__(self) -> str:  # KeyError quotes its message; keep it readable
        return str(self.args[0])


class Registry(Generic[T]):
    """Names -> constructors of ``T``. One registry per kind of part (fingerprint, attack, ...)."""

    def __init__(self, kind: str, group: str | None = None) -> None:
        self.kind = kind
        self.group = group
        self._entries: dict[str, Callable[..., T]] = {}
        self._docs: dict[str, str] = {}
        self._failed: set[str] = set()
        self._plugged: set[str] = set()

    def register(self, name: str, doc: str | None = None) -> Callable[[Callable[..., T]], Callable[..., T]]:
        """Decorator registering a class or factory under ``name`` (names are unique)."""

        def deco(factory: Callable[..., T]) -> Callable[..., T]:
            if name in self._entries:
                raise ValueError(f"{self.kind} {name!r} is registered twice")
            self._entries[name] = factory
            self._docs[name] = plain_sentence(doc or factory.__doc__ or "")
            return factory

        return deco

    def get(self, name: str) -> Callable[..., T]:
        if name not in self._entries:
            self._discover(name)
        try:
            return self._entries[name]
        except KeyError:
            known = ", ".join(sorted(self._entries)) or "none"
            raise UnknownNameError(f"unknown {self.kind} {name!r}; known: {known}") from None

    def make(self, name: str, **kwargs: object) -> T:
        return self.get(name)(**kwargs)

    def names(self) -> list[str]:
        self._discover(None)
        return sorted(self._entries)

    def _plugins(self) -> list[EntryPoint]:
        if self.group is None:
            return []
        if self.group not in _ENTRY_POINTS:
            try:
                _ENTRY_POINTS[self.group] = list(entry_points(group=self.group))
            except Exception as exc:  # broken metadata of some installed package: no plugins, said once
                log.warning("cannot read the %s plugins (%s)", self.kind, exc)
                _ENTRY_POINTS[self.group] = []
        return _ENTRY_POINTS[self.group]

    def _discover(self, name: str | None) -> None:
        """Register the plugins named ``name`` (every plugin of the group when None) not yet registered."""
        for ep in self._plugins():
            if (name is not None and ep.name != name) or ep.name in self._failed:
                continue
            if ep.name in self._entries:
                if ep.name not in self._plugged:  # a built-in keeps its name; said once
                    self._failed.add(ep.name)
                    log.warning("%s plugin %r (%s) reuses a built-in name", self.kind, ep.name, ep.value)
                continue
            try:
                obj = ep.load()
            except Exception as exc:  # a plugin may fail in any way: it is left out, the run goes on
                self._failed.add(ep.name)
                log.warning("%s plugin %r (%s) failed to load: %s", self.kind, ep.name, ep.value, exc)
                continue
            if ep.name not in self._entries:  # importing it may have registered it already
                if not callable(obj):
                    self._failed.add(ep.name)
                    log.warning("%s plugin %r (%s) is not a class or factory", self.kind, ep.name, ep.value)
                    continue
                self.register(ep.name)(obj)
            self._plugged.add(ep.name)

    def describe(self, name: str) -> str:
        self.get(name)
        return self._docs[name]

    def __contains__(self, name: object) -> bool:
        if isinstance(name, str) and name not in self._entries:
            self._discover(name)
        return name in self._entries

    def __len__(self) -> int:
        return len(self._entries)
