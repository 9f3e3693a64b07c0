"""Streaming CSV reader for every bulk job: one reader, a column :class:`Schema` per job.

Reads any binary file-like (an S3 ``StreamingBody``, an open local file) a few kilobytes at a time:
a million-row file never sits in memory. It finds the text encoding (UTF-8 with or without BOM,
falling back to cp1252, what Excel on Windows saves), refuses empty and binary files with a reason,
maps the header to the schema's columns, and yields the records column-wise in chunks, each with the
physical line on which it starts (header = line 1).
"""

from __future__ import annotations

import codecs
import csv
import io
import re
import threading
from collections import namedtuple
from collections.abc import Iterator
from dataclasses import dataclass, field
from itertools import chain, islice
from operator import itemgetter
from typing import Any, BinaryIO

from ..errors import FileRefused

SNIFF_BYTES = 64 * 1024
_READ_CHUNK = 256 * 1024
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
    _lookup: dict[str, tuple[str, int]] = field(init=False, repr=False, compare=False)
    Record: Any = field(init=False, repr=False, compare=False)
    Chunk: Any = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        lookup = {name: (c.field, rank) for c in self.columns for rank, name in enumerate(c.names)}
        object.__setattr__(self, "_lookup", lookup)
        object.__setattr__(self, "Record", namedtuple("Record", ("line", *self.fields)))
        object.__setattr__(self, "Chunk", namedtuple("Chunk", ("lines", *self.fields, "malformed"), defaults=({},)))

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
            if match and (match[0] not in best or match[1] < best[match[0]][0]):
                best[match[0]] = (match[1], index)
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


# -- bytes in: sampling, encoding --------------------------------------------------------------------
class _RawReader(io.RawIOBase):
    """Adapts anything with ``read(n)`` (botocore StreamingBody included) to RawIOBase.

    The first ``SNIFF_BYTES`` are read up front (short reads are normal for network bodies, so it
    loops) to decide the encoding, then replayed.
    """

    def __init__(self, source):
        self._source = source
        parts, size = [], 0
        while size < SNIFF_BYTES:
            part = source.read(SNIFF_BYTES - size)
            if not part:
                break
            parts.append(part)
            size += len(part)
        self.sample = b"".join(parts)
        self.complete = size < SNIFF_BYTES  # the sample is the whole file
        self._replay = memoryview(self.sample)

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        if self._replay:
            n = min(len(buffer), len(self._replay))
            buffer[:n] = self._replay[:n]
            self._replay = self._replay[n:]
            return n
        data = self._source.read(len(buffer))
        n = len(data)
        buffer[:n] = data
        return n


_FALLBACK = "zoomops-cp1252"
_fallback_hits = threading.local()


def _cp1252_fallback(exc: UnicodeError) -> tuple[str, int]:
    """Codec error handler: bytes that are not UTF-8 are read as cp1252, and counted.

    The five bytes cp1252 leaves undefined become U+FFFD, which row validation rejects, so a stray
    byte deep in a file costs one row, never the run.
    """
    assert isinstance(exc, UnicodeDecodeError)  # registered for decoding only
    chunk = bytes(exc.object[exc.start : exc.end])
    text = chunk.decode("cp1252", errors="replace")
    _fallback_hits.count = getattr(_fallback_hits, "count", 0) + 1
    return text, exc.end


codecs.register_error(_FALLBACK, _cp1252_fallback)


def _detect(sample: bytes, complete: bool) -> str:
    if not sample.strip():
        raise FileRefused("the file is empty" if not sample else "the file holds only whitespace")
    if sample.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)) or b"\x00" in sample:
        raise FileRefused(
            "binary file, not CSV text (it contains NUL bytes; a UTF-16 'Unicode text' "
            "export looks like this: save it as 'CSV UTF-8' or 'CSV (Comma delimited)')"
        )
    controls = sum(1 for b in sample if b < 0x20 and b not in (0x09, 0x0A, 0x0D))
    if controls > max(8, len(sample) // 100):
        raise FileRefused("binary file, not CSV text (too many control characters)")
    if sample.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    try:
        sample.decode("utf-8")
        return "utf-8"
    except UnicodeDecodeError as exc:
        # A multi-byte sequence cut at the end of the sample is still UTF-8.
        if not complete and exc.start >= len(sample) - 3 and exc.reason == "unexpected end of data":
            return "utf-8"
    return "cp1252"  # its five undefined bytes become U+FFFD, which costs that row, as anywhere else


# -- text in: records, column-wise -------------------------------------------------------------------
def _tap(lines: Iterator[str], seen: list[str]) -> Iterator[str]:
    """The lines, remembered in ``seen`` as csv consumes them."""
    remember = seen.append
    for line in lines:
        remember(line)
        yield line


def _drop_blank_and_pad(lines: list[int], rows: list[list[str]], width: int):
    kept_lines, kept_rows = [], []
    for line, row in zip(lines, rows):
        if not any(cell.strip() for cell in row):
            continue
        kept_lines.append(line)
        kept_rows.append(row + [""] * (width - len(row)) if len(row) < width else row)
    return kept_lines, kept_rows


def _record_lines(rows: list[list[str]], end: int) -> tuple[list[int], int]:
    """The line each record starts on (a record spans 1 + the line breaks inside its fields), and the
    last physical line consumed."""
    lines = []
    for row in rows:
        lines.append(end + 1)
        end += 1 + sum(f.count("\n") + f.count("\r") - f.count("\r\n") for f in row)
    return lines, end


class _Chunker:
    """The records after the header, in chunks; a record csv cannot parse comes back malformed, and
    when an unclosed quote swallowed the lines after it, those lines are read again on their own."""

    def __init__(self, text: io.TextIOWrapper, schema: Schema):
        self._text, self._schema = text, schema
        self._tapped: list[str] = []  # the physical lines the current chunk consumed
        self._reader = csv.reader(_tap(text, self._tapped), strict=True)
        self._offset = 0  # physical line = offset + reader.line_num
        self.columns = schema.map_header(self._header())
        self._width = max(self.columns.values()) + 1
        present = [f for f in schema.fields if f in self.columns]
        self._getters = {f: itemgetter(self.columns[f]) for f in present}
        # The first required column: a blank cell there is the cheap sign of ",,," lines (Excel saves them).
        self._key = self._getters[next(c.field for c in schema.columns if c.required)]
        self._end = self._reader.line_num  # the last physical line consumed

    def _header(self) -> list[str]:
        reader = self._reader
        try:
            header = next(reader, None)
            while header is not None and not any(cell.strip() for cell in header):
                header = next(reader, None)  # blank lines above the header
        except csv.Error as exc:
            raise FileRefused(f"the header is not valid CSV ({exc})", line=reader.line_num) from None
        if header is None:
            raise FileRefused("the file has no header and no rows")
        return header

    def chunks(self, size: int) -> Iterator[Any]:
        while True:
            self._tapped.clear()
            rows: list[list[str]] = []
            error = None
            try:
                rows.extend(islice(self._reader, size))
            except csv.Error as exc:
                error = exc
            got, first_tapped = len(rows), self._end + 1
            if error is None and self._offset + self._reader.line_num - self._end == got:
                lines = list(range(self._end + 1, self._end + got + 1))  # one physical line per record
                self._end += got
            else:
                lines, self._end = _record_lines(rows, self._end)
            if rows and (min(map(len, rows)) < self._width or "" in map(str.strip, map(self._key, rows))):
                lines, rows = _drop_blank_and_pad(lines, rows, self._width)
            malformed = self._malformed(error, rows, lines, first_tapped) if error is not None else {}
            if rows:
                yield self._chunk(lines, rows, malformed)
            if error is None and got < size:
                return

    def _malformed(self, error: csv.Error, rows: list, lines: list[int], first_tapped: int) -> dict[int, str]:
        bad = self._end + 1
        consumed = self._tapped[bad - first_tapped :]  # the lines csv read for the bad record
        rows.append([""] * self._width)
        lines.append(bad)
        self._end = bad
        if len(consumed) <= 1:
            return {len(rows) - 1: f"not valid CSV: {error}"}
        # A quote opened on this line ran on into the next ones: read those again, on their own.
        self._reader = csv.reader(_tap(chain(consumed[1:], self._text), self._tapped), strict=True)
        self._offset = bad
        return {
            len(rows) - 1: f"not valid CSV: a quote opened on this line is not closed where it should be "
            f"({error}); the lines after it were read on their own"
        }

    def _chunk(self, lines: list[int], rows: list[list[str]], malformed: dict[int, str]):
        n = len(rows)
        columns = [list(map(self._getters[f], rows)) if f in self._getters else [""] * n for f in self._schema.fields]
        return self._schema.Chunk(lines, *columns, malformed)


class CsvSource:
    """The records of one CSV stream under ``schema``; ``encoding`` is known once iteration starts."""

    def __init__(self, stream: BinaryIO | io.RawIOBase, schema: Schema, name: str = "<stream>"):
        self.name, self.schema = name, schema
        if isinstance(stream, io.BufferedReader) and stream.seekable():
            # A local file: sample it, rewind, and let TextIOWrapper read it directly.
            start = stream.tell()
            self._sample = stream.read(SNIFF_BYTES)
            self._complete = len(self._sample) < SNIFF_BYTES
            stream.seek(start)
            self._buffered = stream
        else:
            raw = _RawReader(stream)
            self._sample, self._complete = raw.sample, raw.complete
            self._buffered = io.BufferedReader(raw, buffer_size=_READ_CHUNK)
        self.encoding: str | None = None
        self.columns: dict[str, int] = {}
        self.warnings: list[str] = []
        self._hits_before = 0

    def _text(self) -> io.TextIOWrapper:
        self.encoding = _detect(self._sample, self._complete)
        # Valid UTF-8 in the sample; a later non-UTF-8 byte is read as cp1252 and reported.
        errors = "replace" if self.encoding == "cp1252" else _FALLBACK
        self._hits_before = getattr(_fallback_hits, "count", 0)
        return io.TextIOWrapper(self._buffered, encoding=self.encoding, errors=errors, newline="")

    def chunks(self, size: int = 2048) -> Iterator[Any]:
        """The records in column-wise chunks (``schema.Chunk``) of up to ``size``; blank lines dropped.

        Rows are read and split into columns by C code (csv, map, itemgetter); Python only loops per
        row for the rare chunk with multi-line records, short or blank rows.
        """
        chunker = _Chunker(self._text(), self.schema)
        self.columns = chunker.columns
        yield from chunker.chunks(size)
        self._note_fallback()

    def __iter__(self) -> Iterator[Any]:
        n = len(self.schema.fields) + 1
        for chunk in self.chunks():
            yield from map(self.schema.Record, *chunk[:n])

    def _note_fallback(self) -> None:
        if getattr(_fallback_hits, "count", 0) > self._hits_before:
            self.encoding = "cp1252"
            self.warnings.append("some bytes are not valid UTF-8; they were read as cp1252 (Windows Excel 'CSV')")
