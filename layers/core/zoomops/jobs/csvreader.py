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
from collections.abc import Iterator
from itertools import chain, islice
from operator import itemgetter
from typing import Any, BinaryIO

from ..errors import FileRefused
from .schema import Schema, normalise_header

__all__ = ["SNIFF_BYTES", "CsvSource", "Schema", "normalise_header", "unmark"]

SNIFF_BYTES = 64 * 1024
_READ_CHUNK = 256 * 1024


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
# A decoded run of non-UTF-8 bytes is wrapped in these private-use characters, so the line it stands on can
# be named; they are removed before any value is used.
MARK_OPEN, MARK_CLOSE = "\ue000", "\ue001"
_MARKED = re.compile(f"{MARK_OPEN}([^{MARK_CLOSE}]*){MARK_CLOSE}")


def _cp1252_fallback(exc: UnicodeError) -> tuple[str, int]:
    """Codec error handler: a run of bytes that is not UTF-8 is read as cp1252 (what Excel on Windows saves),
    marked, and counted; the UTF-8 around it stays UTF-8, so each line is read in the encoding it is in.

    The five bytes cp1252 leaves undefined become U+FFFD, which row validation rejects, so a stray
    byte deep in a file costs one row, never the run.
    """
    assert isinstance(exc, UnicodeDecodeError)  # registered for decoding only
    text = bytes(exc.object[exc.start : exc.end]).decode("cp1252", errors="replace")
    _fallback_hits.count = getattr(_fallback_hits, "count", 0) + 1
    return MARK_OPEN + text + MARK_CLOSE, exc.end


codecs.register_error(_FALLBACK, _cp1252_fallback)

_WORKBOOKS = (
    (b"PK\x03\x04", "an Excel workbook (.xlsx) or another zip file"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "an Excel 97-2003 workbook (.xls)"),
)


def _refuse_unreadable(sample: bytes) -> None:
    """Empty, whitespace-only, workbook and binary files are refused as a whole, saying what they are."""
    if not sample.strip():
        raise FileRefused("the file is empty" if not sample else "the file holds only whitespace")
    for magic, what in _WORKBOOKS:
        if sample.startswith(magic):
            raise FileRefused(
                f"this is {what}, not CSV: in Excel use File > Save As > 'CSV UTF-8 (Comma "
                f"delimited) (*.csv)' and upload that file"
            )
    if sample.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)) or b"\x00" in sample:
        raise FileRefused(
            "binary file, not CSV text (it contains NUL bytes; a UTF-16 'Unicode text' "
            "export looks like this: save it as 'CSV UTF-8' or 'CSV (Comma delimited)')"
        )
    controls = sum(1 for b in sample if b < 0x20 and b not in (0x09, 0x0A, 0x0D))
    if controls > max(8, len(sample) // 100):
        raise FileRefused("binary file, not CSV text (too many control characters)")


def _sample_is_cp1252(sample: bytes, complete: bool) -> bool:
    """True when the sample has bytes that are not UTF-8 and no multi-byte UTF-8 at all: a Windows Excel
    'CSV' file as a whole, not a UTF-8 file with a few pasted lines."""
    if not complete:  # a multi-byte sequence may be cut at the end of the sample
        sample = sample[: max(sample.rfind(b"\n") + 1, len(sample) - 3)]
    text = sample.decode("utf-8", errors=_FALLBACK)
    return MARK_OPEN in text and _MARKED.sub("", text).isascii()


def unmark(value: str) -> str:
    return value.replace(MARK_OPEN, "").replace(MARK_CLOSE, "")


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

    def __init__(self, text: io.TextIOWrapper, schema: Schema, cp1252_lines: list[int]):
        self._text, self._schema, self._cp1252_lines = text, schema, cp1252_lines
        self._hits = getattr(_fallback_hits, "count", 0)  # the decoder's count before this file
        self._tapped: list[str] = []  # the physical lines the current chunk consumed
        self._reader = csv.reader(_tap(text, self._tapped), strict=True)
        self._offset = 0  # physical line = offset + reader.line_num
        self.header = self._header()
        self.columns = schema.map_header(self.header)
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
        return list(map(unmark, header))

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
        if getattr(_fallback_hits, "count", 0) != self._hits:  # this file has had bytes read as cp1252
            self._unmark(lines, columns)
            rows = [list(map(unmark, row)) for row in rows] if self._schema.keep_raw else rows
        if self._schema.keep_raw:
            return self._schema.Chunk(lines, *columns, malformed, rows)
        return self._schema.Chunk(lines, *columns, malformed)

    def _unmark(self, lines: list[int], columns: list[list[str]]) -> None:
        """Values without the cp1252 marks, and the lines that had them noted (decoding runs ahead of
        parsing, so once one mark was seen every later chunk is looked at: in C, per column)."""
        marked: set[int] = set()
        for column in columns:
            if MARK_OPEN in "".join(column):
                hit = [i for i, value in enumerate(column) if MARK_OPEN in value]
                marked.update(hit)
                for i in hit:
                    column[i] = unmark(column[i])
        self._cp1252_lines.extend(lines[i] for i in sorted(marked))


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
        self.header: list[str] = []  # the header as written (known once iteration starts)
        self.warnings: list[str] = []
        self.cp1252_lines: list[int] = []  # lines (record starts) with bytes that are not UTF-8

    def _text(self) -> io.TextIOWrapper:
        """UTF-8 (a BOM skipped), each run of bytes that is not UTF-8 read as cp1252: decided per line,
        never guessed for the whole file, so what reaches LTI Pro is what the spreadsheet showed."""
        _refuse_unreadable(self._sample)
        self._whole_cp1252 = _sample_is_cp1252(self._sample, self._complete)
        self.encoding = "cp1252" if self._whole_cp1252 else "utf-8"
        bom = self._sample.startswith(codecs.BOM_UTF8)
        return io.TextIOWrapper(self._buffered, encoding="utf-8-sig" if bom else "utf-8", errors=_FALLBACK, newline="")

    def chunks(self, size: int = 2048) -> Iterator[Any]:
        """The records in column-wise chunks (``schema.Chunk``) of up to ``size``; blank lines dropped.

        Rows are read and split into columns by C code (csv, map, itemgetter); Python only loops per
        row for the rare chunk with multi-line records, short or blank rows.
        """
        chunker = _Chunker(self._text(), self.schema, self.cp1252_lines)
        self.columns, self.header = chunker.columns, chunker.header
        yield from chunker.chunks(size)
        self._note_fallback()

    def __iter__(self) -> Iterator[Any]:
        n = len(self.schema.fields) + 1
        for chunk in self.chunks():
            if self.schema.keep_raw:
                yield from map(self.schema.Record, *chunk[:n], chunk.raw)
            else:
                yield from map(self.schema.Record, *chunk[:n])

    def _note_fallback(self) -> None:
        lines = self.cp1252_lines
        if not lines:
            return
        if self._whole_cp1252:
            return  # the whole file is Windows Excel 'CSV': the encoding says so, no line is special
        self.encoding = "utf-8, some lines cp1252" if not self._sample.isascii() else "cp1252"
        shown = ", ".join(map(str, lines[:10])) + (f" and {len(lines) - 10} more" if len(lines) > 10 else "")
        self.warnings.append(
            f"line(s) {shown}: bytes that are not UTF-8, read as cp1252 (Windows Excel 'CSV'); check that "
            f"these rows show what the spreadsheet showed"
        )
