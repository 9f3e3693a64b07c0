"""The LTI Pro import template (the CSV admins import and remove) and its row rules.

Every record ends in exactly one of these states: ``valid`` (to be sent), ``rejected`` (with the field
and the reason) or ``duplicate`` (with the line that already carries the same meeting, context and domain).
"""

from __future__ import annotations

import re
from itertools import compress, count, repeat
from operator import add, methodcaller, mul, not_, or_, sub
from typing import Any

from ..jobs.schema import Column, Schema

# The four columns of LTI Pro's "Download a CSV Template", in template order; other accepted names are
# normalised (lower case, no spaces, `_` or `-`), best first.
IMPORT_TEMPLATE = Schema(
    "the LTI Pro import template",
    (
        Column("meeting_id", "Meeting ID", ("meetingid", "zoommeetingid", "meetingnumber", "meeting"), required=True),
        Column("context_id", "Context ID", ("contextid", "lticontextid", "coursecontextid", "context"), required=True),
        Column("domain", "Domain", ("domain", "lmsdomain", "lmsurl", "domainurl"), required=True),
        Column(
            "course_id", "custom_canvas_course_id", ("customcanvascourseid", "courseid", "canvascourseid", "course")
        ),
    ),
)
TEMPLATE_HEADER = IMPORT_TEMPLATE.header
Record = IMPORT_TEMPLATE.Record
Chunk = IMPORT_TEMPLATE.Chunk

MIN_MEETING_DIGITS = 9
MAX_MEETING_DIGITS = 11
_UNDECODABLE = "\ufffd"
_SEPARATOR_CHARS = " -\u00a0\t"
_SEPARATORS = str.maketrans("", "", _SEPARATOR_CHARS)
_PLAIN_MEETING = re.compile(f"[0-9]{{{MIN_MEETING_DIGITS},{MAX_MEETING_DIGITS}}}")
_PAIR_SHIFT = 10**12
_SCIENTIFIC = re.compile(r"[0-9](?:[.,][0-9]+)?[eE]\+?[0-9]+")  # 8.12346E+10: what Excel shows a long number as
_strip = str.strip
_rstrip_slash = methodcaller("rstrip", "/")


def check(record: Any) -> tuple[str, str, str] | str:
    """The normalised (meeting_id, context_id, domain), or the reason the row is rejected."""
    raw_meeting = record.meeting_id.strip()
    if not raw_meeting:
        return "meeting_id: required"
    meeting = raw_meeting.translate(_SEPARATORS)
    if _SCIENTIFIC.fullmatch(raw_meeting):
        return (
            f"meeting_id: Excel turned this ID into a number ({raw_meeting}); the digits are lost: "
            f"format the column as text (or export it as text) and copy the IDs in again"
        )
    if not (meeting.isascii() and meeting.isdigit()):
        return f"meeting_id: must be digits (spaces and dashes allowed), got {raw_meeting!r}"
    if not MIN_MEETING_DIGITS <= len(meeting) <= MAX_MEETING_DIGITS:
        return (
            f"meeting_id: must have {MIN_MEETING_DIGITS}-{MAX_MEETING_DIGITS} digits, "
            f"got {len(meeting)} in {raw_meeting!r}"
        )
    context = record.context_id.strip()
    if not context:
        return "context_id: required"
    domain = record.domain.strip().rstrip("/")
    if not domain:
        return "domain: required"
    if _UNDECODABLE in context or _UNDECODABLE in domain or _UNDECODABLE in record.course_id:
        field = "context_id" if _UNDECODABLE in context else "domain" if _UNDECODABLE in domain else "course_id"
        return f"{field}: holds bytes that are not text in any encoding Excel saves (shown as \ufffd)"
    return meeting, context, domain


def check_chunk(chunk: Any) -> tuple[list[str], list[str], list[str], list[str], dict[int, str]]:
    """:func:`check` for a whole chunk: normalised meeting, context, domain and course
    columns, and ``{index: reason}`` for the rejected records.

    The common case runs in C (map over str methods and one regex); only records
    that look wrong go through :func:`check`, which decides and words the reason.
    """
    ms = list(map(_strip, chunk.meeting_id))
    joined = "".join(ms)
    for sep in _SEPARATOR_CHARS:
        if sep in joined:
            ms = list(map(methodcaller("replace", sep, ""), ms))
    cs = list(map(_strip, chunk.context_id))
    ds = list(map(_rstrip_slash, map(_strip, chunk.domain)))
    ks = list(map(_strip, chunk.course_id))
    looks_wrong = map(or_, map(not_, map(_PLAIN_MEETING.fullmatch, ms)), map(or_, map(not_, cs), map(not_, ds)))
    suspects = set(compress(range(len(ms)), looks_wrong))
    if any(_UNDECODABLE in "".join(column) for column in (cs, ds, ks)):
        suspects.update(i for i, values in enumerate(zip(cs, ds, ks)) if _UNDECODABLE in "".join(values))
    rejected: dict[int, str] = dict(chunk.malformed)
    for i in sorted(suspects - rejected.keys()):
        verdict = check(
            Record(chunk.lines[i], chunk.meeting_id[i], chunk.context_id[i], chunk.domain[i], chunk.course_id[i])
        )
        if isinstance(verdict, str):
            rejected[i] = verdict
        else:
            ms[i], cs[i], ds[i] = verdict
    return ms, cs, ds, ks, rejected


class Deduplicator:
    """Remembers the first line of each (meeting, context, domain), compactly.

    A million distinct rows must fit well under the memory budget, so the key is
    one exact integer: the meeting number (with its length) plus an interned index
    of the (context, domain) pair, which repeats across a course's meetings, times 10**12.
    """

    def __init__(self) -> None:
        self._pairs: dict[tuple[str, str], int] = {}
        self._ids = count()
        self._base: dict[int, int] = {}  # pair id -> the line where that pair first appeared
        self._first: dict[int, int] = {}  # key -> first line - its pair's base line

    def first_lines(self, meetings: list[str], contexts: list[str], domains: list[str], lines: list[int]) -> list[int]:
        """For each row, the first line with its key: its own line the first time."""
        pairs = list(map(self._pairs.setdefault, zip(contexts, domains), self._ids))
        bases = list(map(self._base.setdefault, pairs, lines))
        # "1" + up to 11 digits < 10**12; the leading 1 keeps "0123456789" apart from "123456789".
        keys = map(add, map(mul, pairs, repeat(_PAIR_SHIFT)), map(int, map("1".__add__, meetings)))
        # Stored relative to the pair's first line: a course's meetings sit close together, so
        # these are mostly small ints, which Python shares instead of allocating (~28 MB per 1M rows).
        offsets = map(self._first.setdefault, keys, map(sub, lines, bases))
        return list(map(add, offsets, bases))

    def first_line(self, meeting: str, context: str, domain: str, line: int) -> int | None:
        """None the first time a key is seen (and remember ``line``), else the first line."""
        (seen,) = self.first_lines([meeting], [context], [domain], [line])
        return None if seen == line else seen
