"""A bulk job's CSV columns: a :class:`Schema` of :class:`Column` s, matched to a file's header the way
admins write headers (case, spaces, ``_`` and ``-`` ignored; aliases; extra columns ignored)."""

from __future__ import annotations

import re
from collections import namedtuple
from dataclasses import dataclass, field
from typing import Any

from ..errors import FileRefused

_NORMALISE = re.compile(r"[\s_\-]+")


def normalise_header(name: str) -> str:
    """Header names match ignoring case, spaces, ``_`` and ``-`` (and a BOM)."""
    return _NORMALISE.sub("", name.strip().lstrip("\ufeff")).lower()


@dataclass(frozen=True)
class Column:
    field: str  # the name the job uses
    header: str  # the template's own header text
    aliases: tuple[str, ...] = ()  # other accepted names (normalised), best first
    required: bool = False

    @property
    def names(self) -> tuple[str, ...]:
        """Accepted header names, normalised, best first: the template's own name wins over an alias."""
        return (normalise_header(self.header), *(a for a in self.aliases if a != normalise_header(self.header)))


@dataclass(frozen=True)
class Schema:
    """The columns of one kind of input CSV. ``Record``/``Chunk`` are named tuples with one attribute per
    column (a chunk's attributes are columns, lists of the values as written)."""

    what: str  # for messages: "the LTI Pro import template"
    columns: tuple[Column, ...]
    keep_raw: bool = False  # records also carry the row as written (every column): for a retry file in its own columns
    _lookup: dict[str, tuple[str, int]] = field(init=False, repr=False, compare=False)
    Record: Any = field(init=False, repr=False, compare=False)
    Chunk: Any = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        lookup = {name: (c.field, rank) for c in self.columns for rank, name in enumerate(c.names)}
        object.__setattr__(self, "_lookup", lookup)
        raw = ("raw",) if self.keep_raw else ()
        object.__setattr__(self, "Record", namedtuple("Record", ("line", *self.fields, *raw)))
        defaults: tuple = ({}, []) if raw else ({},)
        chunk = namedtuple("Chunk", ("lines", *self.fields, "malformed", *raw), defaults=defaults)  # type: ignore[misc]
        object.__setattr__(self, "Chunk", chunk)

    def _header_of(self, field: str) -> str:
        return next(c.header for c in self.columns if c.field == field)

    @property
    def fields(self) -> tuple[str, ...]:
        return tuple(c.field for c in self.columns)

    @property
    def header(self) -> tuple[str, ...]:
        return tuple(c.header for c in self.columns)

    def map_header(self, header: list[str]) -> dict[str, int]:
        """Column index of each field; refuses a header missing required ones."""
        best: dict[str, tuple[int, int]] = {}  # field -> (rank of the alias, column)
        for index, name in enumerate(header):
            match = self._lookup.get(normalise_header(name))
            if not match:
                continue
            field, rank = match
            if field in best and best[field][0] == rank:
                # Two columns are equally this field: guessing would send one of them silently.
                first = best[field][1]
                raise FileRefused(
                    f"ambiguous header: columns {first + 1} ({header[first]!r}) and {index + 1} ({name!r}) both "
                    f"name {self._header_of(field)}; keep one of them",
                    line=1,
                )
            if field not in best or rank < best[field][0]:
                best[field] = (rank, index)  # the template's own name wins over a looser alias
        columns = {name: index for name, (_, index) in best.items()}
        missing = [c.header for c in self.columns if c.required and c.field not in columns]
        if missing:
            seen = ", ".join(repr(h) for h in header[:8]) or "nothing"
            raise FileRefused(
                f"no usable header: missing column(s) {', '.join(missing)} (found {seen}); expected "
                f"{self.what} header {','.join(self.header)}",
                line=1,
            )
        return columns
