"""Streaming reader for LTI Pro meeting-import CSV files.

Reads any binary file-like (an S3 ``StreamingBody``, an open local file) a few
kilobytes at a time: a million-row file never sits in memory. It finds the
text encoding (UTF-8 with or without BOM, falling back to cp1252, what Excel on
Windows saves), refuses empty and binary files with a reason, maps the header
to the import template's columns, and yields one :class:`Record` per CSV
record with the physical line on which that record starts (header = line 1).
"""

from __future__ import annotations

import codecs
import csv
import io
import re
import threading
from dataclasses import dataclass
from itertools import chain, islice
from operator import itemgetter
from typing import BinaryIO, Iterator, NamedTuple

# The four columns of LTI Pro's "Download a CSV Template", in template order.
FIELDS = ("meeting_id", "context_id", "domain", "course_id")
TEMPLATE_HEADER = ("Meeting ID", "Context ID", "Domain", "custom_canvas_course_id")
REQUIRED = ("meeting_id", "context_id", "domain")

# Header names after normalisation (lower case, no spaces, `_` or `-`), best first: the
# template's own name wins over an alias wherever the columns stand.
_ALIASES = {
    "meeting_id": ("meetingid", "zoommeetingid", "meetingnumber", "meeting"),
    "context_id": ("contextid", "lticontextid", "coursecontextid", "context"),
    "domain": ("domain", "lmsdomain", "lmsurl", "domainurl"),
    "course_id": ("customcanvascourseid", "courseid", "canvascourseid", "course"),
}
_HEADER_LOOKUP = {
    alias: (field, rank) for field, names in _ALIASES.items() for rank, alias in enumerate(names)
}
_NORMALISE = re.compile(r"[\s_\-]+")

SNIFF_BYTES = 64 * 1024
_READ_CHUNK = 256 * 1024


class FileRefused(ValueError):
    """The file as a whole cannot be processed (empty, binary, no usable header)."""

    def __init__(self, reason: str, *, line: int | None = None):
        super().__init__(reason if line is None else f"line {line}: {reason}")
        self.reason = reason
        self.line = line


class Chunk(NamedTuple):
    """Consecutive records, column-wise: start lines and the values as written."""

    lines: list[int]
    meeting_id: list[str]
    context_id: list[str]
    domain: list[str]
    course_id: list[str]
    malformed: dict[int, str] = {}  # index -> why csv could not read that record


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


@dataclass(slots=True)
class Record:
    """One CSV record: the values as written, keyed by template field."""

    line: int
    meeting_id: str
    context_id: str
    domain: str
    course_id: str


def normalise_header(name: str) -> str:
    return _NORMALISE.sub("", name.strip().lstrip("\ufeff")).lower()


def map_header(header: list[str]) -> dict[str, int]:
    """Column index of each template field; refuses a header missing required ones."""
    best: dict[str, tuple[int, int]] = {}  # field -> (rank of the alias, column)
    for index, name in enumerate(header):
        match = _HEADER_LOOKUP.get(normalise_header(name))
        if match and (match[0] not in best or match[1] < best[match[0]][0]):
            best[match[0]] = (match[1], index)
    columns = {field: index for field, (_, index) in best.items()}
    missing = [TEMPLATE_HEADER[FIELDS.index(f)] for f in REQUIRED if f not in columns]
    if missing:
        seen = ", ".join(repr(h) for h in header[:8]) or "nothing"
        raise FileRefused(
            f"no usable header: missing column(s) {', '.join(missing)} "
            f"(found {seen}); expected the LTI Pro import template header "
            f"{','.join(TEMPLATE_HEADER)}",
            line=1,
        )
    return columns


class _RawReader(io.RawIOBase):
    """Adapts anything with ``read(n)`` (botocore StreamingBody included) to RawIOBase.

    The first ``SNIFF_BYTES`` are read up front (short reads are normal for
    network bodies, so it loops) to decide the encoding, then replayed.
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


def _cp1252_fallback(exc: UnicodeDecodeError):
    """Codec error handler: bytes that are not UTF-8 are read as cp1252, and counted.

    The five bytes cp1252 leaves undefined become U+FFFD, which row validation
    rejects, so a stray byte deep in a file costs one row, never the run.
    """
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


class CsvSource:
    """Iterate the records of one CSV stream; ``encoding`` is known once iteration starts."""

    def __init__(self, stream: BinaryIO | io.RawIOBase, name: str = "<stream>"):
        self.name = name
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
        self._fell_back = False

    def _text(self) -> io.TextIOWrapper:
        self.encoding = _detect(self._sample, self._complete)
        # Valid UTF-8 in the sample; a later non-UTF-8 byte is read as cp1252 and reported.
        errors = "replace" if self.encoding == "cp1252" else _FALLBACK
        self._hits_before = getattr(_fallback_hits, "count", 0)
        return io.TextIOWrapper(self._buffered, encoding=self.encoding, errors=errors, newline="")

    def chunks(self, size: int = 2048) -> Iterator[Chunk]:
        """The records in column-wise chunks of up to ``size``; blank lines dropped.

        Rows are read and split into columns by C code (csv, map, itemgetter); Python
        only loops per row for the rare chunk with multi-line records, short or blank
        rows. A record csv cannot parse is yielded as malformed (empty values, the
        reason in ``Chunk.malformed``); when an unclosed quote swallowed the lines
        after it, those lines are read again on their own, so one stray quote costs
        one row, never the rest of the file.
        """
        text = self._text()
        tapped: list[str] = []  # the physical lines the current chunk consumed
        reader = csv.reader(_tap(text, tapped), strict=True)
        try:
            header = next(reader, None)
            while header is not None and not any(cell.strip() for cell in header):
                header = next(reader, None)  # blank lines above the header
        except csv.Error as exc:
            raise FileRefused(f"the header is not valid CSV ({exc})", line=reader.line_num) from None
        if header is None:
            raise FileRefused("the file has no header and no rows")
        columns = self.columns = map_header(header)
        width = max(columns.values()) + 1
        meeting = itemgetter(columns["meeting_id"])
        getters = [meeting] + [itemgetter(columns[f]) for f in ("context_id", "domain")]
        course = itemgetter(columns["course_id"]) if "course_id" in columns else None
        offset = 0  # physical line = offset + reader.line_num
        end = reader.line_num  # the last physical line consumed
        while True:
            tapped.clear()
            rows: list[list[str]] = []
            append = rows.append
            error = None
            try:
                for row in islice(reader, size):
                    append(row)
            except csv.Error as exc:
                error = exc
            got, first_tapped = len(rows), end + 1
            if error is None and offset + reader.line_num - end == got:
                lines = list(range(end + 1, end + got + 1))  # one physical line per record
                end += got
            else:
                lines = []
                for row in rows:  # a record spans 1 + the line breaks inside its fields
                    lines.append(end + 1)
                    end += 1 + sum(f.count("\n") + f.count("\r") - f.count("\r\n") for f in row)
            if rows and min(map(len, rows)) < width:
                lines, rows = _drop_blank_and_pad(lines, rows, width)
            if rows and "" in map(str.strip, map(meeting, rows)):  # perhaps ",,," lines, as Excel saves them
                lines, rows = _drop_blank_and_pad(lines, rows, width)
            malformed: dict[int, str] = {}
            if error is not None:
                bad = end + 1
                consumed = tapped[bad - first_tapped:]  # the lines csv read for the bad record
                malformed[len(rows)] = f"not valid CSV: {error}"
                rows.append([""] * width)
                lines.append(bad)
                if len(consumed) > 1:
                    # A quote opened on this line ran on into the next ones: read those again, on their own.
                    malformed[len(rows) - 1] = (f"not valid CSV: a quote opened on this line is not closed where "
                                                f"it should be ({error}); the lines after it were read on their own")
                    reader = csv.reader(_tap(chain(consumed[1:], text), tapped), strict=True)
                    offset = end = bad
                else:
                    end = bad
            if rows:
                yield Chunk(lines, *(list(map(g, rows)) for g in getters),
                            list(map(course, rows)) if course else [""] * len(rows), malformed)
            if error is None and got < size:
                break
        self._note_fallback()

    def __iter__(self) -> Iterator[Record]:
        for chunk in self.chunks():
            yield from map(Record, *chunk[:5])

    def _note_fallback(self) -> None:
        if getattr(_fallback_hits, "count", 0) > self._hits_before:
            self.encoding = "cp1252"
            self.warnings.append(
                "some bytes are not valid UTF-8; they were read as cp1252 (Windows Excel 'CSV')"
            )
