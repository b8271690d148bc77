"""Bulk import of citizens from a CSV file (``tnid citizens import`` and the staff console).

Two passes over the file:

1. **Inspection** (nothing written): size and row-count limits, encoding (UTF-8 with or without
   BOM; Windows-1258 when the bytes are not UTF-8; anything else refused), the longest line,
   and the header (exactly the seven columns, any order, case and spaces ignored). A refusal
   here raises ``ImportRefused`` before a single row touches the database.
2. **Import**: rows are validated exactly like the sign-up form (``identifiers``), in chunks,
   optionally by a pool of worker processes; each chunk is checked against the database in
   bulk (existing CCCDs and phone numbers) and written with ``executemany`` in one
   transaction. A bad row goes to the error report (row, column, reason) and never stops the
   good ones.

Upsert by CCCD, idempotent: re-running a file changes nothing (0 created, N unchanged). A
changed row updates name, birthdate, gender, phone, e-mail and commune; never the password,
identity level, status or second factors. New citizens have no password (they activate with
an SMS code), identity level 1.

An import must not take over accounts: for a citizen checked in person (level 2), activated
(a password) or with a verified phone, a changed name, birth date or gender is a row error
(an in-person check at the commune office is needed), and so is a changed phone (the
account's recovery channel: changing it needs the citizen). Only e-mail and commune may
change. A citizen still as imported (level 1, never activated, phone not verified) is
updated freely; the phone stays unverified. The guard is repeated in the UPDATE's WHERE, so
a citizen who activates between the check and the write is not overwritten. Every changed
citizen gets an audit entry naming the changed fields (never the values).

Crash safety: each chunk is committed on its own. A crash mid-way leaves whole chunks written
and the rest untouched; since the upsert is idempotent, running the same file again finishes
the job and reports the already written rows as unchanged.

Rules worth knowing:
* Row numbers are the file's line numbers (the header is row 1), as a spreadsheet shows them.
* A CCCD that appears again later in the file: the first valid row wins, later ones are errors.
* A phone number that belongs to another citizen (in the database, or to an earlier row of the
  file) makes the row an error.
"""

from __future__ import annotations

import codecs
import csv
import io
import os
import re
import threading
import time
import unicodedata
import uuid
from array import array
from bisect import bisect_left
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, field
from datetime import date, datetime
from multiprocessing import get_context
from typing import IO, Any

from flask_babel import LazyString, gettext
from flask_babel import lazy_gettext as _l
from sqlalchemy import or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from idp.models import Citizen
from idp.services import audit
from idp.services import identifiers as ids
from idp.services.identifiers import InvalidInput

COLUMNS = ("cccd", "full_name", "birthdate", "gender", "phone", "email", "commune_code")
# Fields an import may change on an existing citizen (never password, level, status, factors).
UPDATABLE = ("full_name", "birthdate", "gender", "phone", "email", "commune_code")
# Fields an import may not change once the citizen was checked, activated or verified a phone.
IDENTITY_FIELDS = ("full_name", "birthdate", "gender")
AUDIT_ACTION = "staff:citizens:imported"
AUDIT_UPDATED = "staff:citizen:import_updated"

_BLOCK = 1 << 20
SQLITE_CACHE_KIB = 65536         # page cache of the import's connection
SQLITE_APP_MMAP = 268435456      # as idp.database sets it for every connection


@dataclass(frozen=True)
class ImportLimits:
    """Refuse a file over these before anything is written."""

    max_bytes: int = 512 * 1024 * 1024   # 1.3 M generated rows are ~110 MB
    max_rows: int = 3_000_000
    max_line_bytes: int = 2048           # a valid row is under 400 bytes
    chunk_rows: int = 10_000             # rows per transaction
    max_errors_kept: int = 10_000        # in memory; the report file gets them all


class ImportRefused(ValueError):
    """The whole file is refused; nothing was written. ``message`` is safe to show."""

    def __init__(self, message: LazyString | str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return str(self.message)


@dataclass(frozen=True)
class RowError:
    """One problem in one row. ``msgid`` is the English message, ``params`` its placeholders:
    ``reason()`` gives it in the current language (Vietnamese by default)."""

    row: int
    column: str
    msgid: str
    params: tuple[tuple[str, str], ...] = ()

    def reason(self) -> str:
        return gettext(self.msgid, **dict(self.params))

    def reason_en(self) -> str:
        return self.msgid % dict(self.params) if self.params else self.msgid


@dataclass
class ImportResult:
    encoding: str = ""
    rows: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    error_rows: int = 0
    errors: list[RowError] = field(default_factory=list)  # the first max_errors_kept
    error_count: int = 0
    dry_run: bool = False

    def summary(self) -> dict[str, Any]:
        return {"rows": self.rows, "created": self.created, "updated": self.updated,
                "unchanged": self.unchanged, "error_rows": self.error_rows,
                "errors": self.error_count, "encoding": self.encoding,
                "dry_run": self.dry_run}


@dataclass(frozen=True)
class Inspection:
    encoding: str     # Python codec name used for the import pass
    label: str        # what to tell people: "UTF-8", "UTF-8 (BOM)", "Windows-1258"
    size: int
    lines: int        # upper bound of the data rows (header excluded)
    columns: tuple[str, ...]  # the header's columns, normalised, in file order


# --- Pass 1: inspection ---------------------------------------------------------------------

# Letters of the Vietnamese alphabet with every tone (NFC), for the Windows-1258 check: bytes
# that are not UTF-8 decode to *something* in most 8-bit code pages, so a Latin-1 file would
# "decode" too; only Vietnamese text (plus ASCII) is accepted as Windows-1258.
_VN_VOWELS = "aăâeêioôơuưy"
_VN_TONES = ("", "\u0300", "\u0301", "\u0303", "\u0309", "\u0323")
_VN_LETTERS = frozenset(
    unicodedata.normalize("NFC", v + t) for v in _VN_VOWELS + _VN_VOWELS.upper() for t in _VN_TONES
) | {"đ", "Đ"}
_CP1258_OK = re.compile("[\t\r\n\x20-\x7e\u00a0\u2019" + "".join(sorted(_VN_LETTERS)) + "]*")
_BAD_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def _size(stream: IO[bytes]) -> int:
    try:
        return os.fstat(stream.fileno()).st_size
    except (OSError, AttributeError, io.UnsupportedOperation):
        position = stream.tell()
        size = stream.seek(0, io.SEEK_END)
        stream.seek(position)
        return size


def inspect(stream: IO[bytes], limits: ImportLimits = ImportLimits()) -> Inspection:
    """Check a seekable binary stream without writing anything; leaves it at offset 0."""
    stream.seek(0)
    size = _size(stream)
    if size > limits.max_bytes:
        raise ImportRefused(_l("The file is too large (%(size)s MB; at most %(limit)s MB).",
                               size=_mb(size), limit=_mb(limits.max_bytes)))
    head = stream.read(4)
    stream.seek(0)
    if not head.strip():
        raise ImportRefused(_l("The file is empty."))
    if head[:2] in (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE):
        raise ImportRefused(_l("The file is in UTF-16. Please save it as CSV UTF-8."))
    label = "UTF-8 (BOM)" if head.startswith(codecs.BOM_UTF8) else "UTF-8"
    try:
        lines = _scan(stream, limits, _utf8_check())
        encoding = "utf-8-sig"
    except UnicodeDecodeError:
        stream.seek(0)
        lines = _scan(stream, limits, _cp1258_check())
        encoding, label = "cp1258", "Windows-1258"
    stream.seek(0)
    text = io.TextIOWrapper(stream, encoding=encoding, newline="")
    try:
        header = next(csv.reader(text), [])
    finally:
        text.detach()
    stream.seek(0)
    columns = _check_header(header)
    if lines - 1 > limits.max_rows:
        raise ImportRefused(_l("The file has too many rows (%(rows)s; at most %(limit)s).",
                               rows=lines - 1, limit=limits.max_rows))
    return Inspection(encoding, label, size, max(lines - 1, 0), columns)


def _mb(size: int) -> str:
    return f"{size / 1_048_576:.1f}".rstrip("0").rstrip(".")


def _utf8_check() -> Callable[[bytes, bool, int], None]:
    decoder = codecs.getincrementaldecoder("utf-8")("strict")

    def check(block: bytes, final: bool, first_line: int) -> None:
        text = decoder.decode(block, final)  # UnicodeDecodeError -> try Windows-1258
        if bad := _BAD_CONTROL.search(text):
            raise ImportRefused(_bad_character(first_line + text.count("\n", 0, bad.start())))
    return check


def _cp1258_check() -> Callable[[bytes, bool, int], None]:
    def check(block: bytes, final: bool, first_line: int) -> None:
        # Single-byte code page: a block boundary never splits a character. The tone marks are
        # separate combining characters in Windows-1258: NFC joins them to their vowel, and
        # one left alone (after a consonant) means the file is not Vietnamese text.
        try:
            text = unicodedata.normalize("NFC", block.decode("cp1258"))
        except UnicodeDecodeError:
            raise ImportRefused(_unknown_encoding()) from None
        if _CP1258_OK.fullmatch(text) is None:
            raise ImportRefused(_unknown_encoding())
    return check


def _unknown_encoding() -> LazyString:
    return _l("The file is not in UTF-8 or Windows-1258 (Vietnamese) encoding. "
              "Please save it as CSV UTF-8 and try again.")


def _bad_character(line: int) -> LazyString:
    return _l("The file contains control characters (line %(line)s): it is not a text CSV file.",
              line=line)


def _scan(stream: IO[bytes], limits: ImportLimits,
          check: Callable[[bytes, bool, int], None]) -> int:
    """Count lines, refuse over-long ones, and run the encoding check block by block."""
    lines, current = 0, 0  # completed lines, length of the line in progress
    carry = b""
    while True:
        block = stream.read(_BLOCK)
        final = not block
        data = carry + block
        # Whole lines only, so that line numbers in messages are right.
        cut = len(data) if final else data.rfind(b"\n") + 1
        chunk, carry = data[:cut], data[cut:]
        if chunk:
            check(chunk, final, lines + 1)
            parts = chunk.split(b"\n")
            longest = max(map(len, parts))
            if longest > limits.max_line_bytes:
                index = next(i for i, p in enumerate(parts) if len(p) > limits.max_line_bytes)
                raise ImportRefused(_l(
                    "Line %(line)s is too long (more than %(limit)s bytes): this is not a "
                    "citizen list.", line=lines + index + 1, limit=limits.max_line_bytes))
            lines += chunk.count(b"\n")
            current = len(parts[-1])
        elif final:
            check(b"", True, lines + 1)
        if len(carry) > limits.max_line_bytes:
            raise ImportRefused(_l(
                "Line %(line)s is too long (more than %(limit)s bytes): this is not a "
                "citizen list.", line=lines + 1, limit=limits.max_line_bytes))
        if final:
            return lines + (1 if current else 0)


def _check_header(header: Sequence[str]) -> tuple[str, ...]:
    columns = tuple(" ".join(unicodedata.normalize("NFC", h).split()).lower().replace(" ", "_")
                    for h in header)
    missing = [c for c in COLUMNS if c not in columns]
    unknown = [c for c in columns if c not in COLUMNS]
    repeated = sorted({c for c in columns if c in COLUMNS and columns.count(c) > 1})
    if missing or unknown or repeated:
        parts = []
        if missing:
            parts.append(_l("missing columns: %(names)s", names=", ".join(missing)))
        if unknown:
            parts.append(_l("unknown columns: %(names)s",
                            names=", ".join(c or '""' for c in unknown)))
        if repeated:
            parts.append(_l("repeated columns: %(names)s", names=", ".join(repeated)))
        raise ImportRefused(_l(
            "The first row must name exactly these columns: %(expected)s (%(problems)s).",
            expected=", ".join(COLUMNS), problems=_Joined(parts)))
    return columns


# --- Row validation (pure; runs in worker processes) ----------------------------------------

# A valid row, ready to write: cccd, full_name, name_folded, birthdate, gender, phone, email,
# commune_code.
Valid = tuple[str, str, str, date, str, str, str | None, str]
Checked = tuple[int, Valid | None, list[tuple[str, str, tuple[tuple[str, str], ...]]]]

_GENDERS = {"male": "male", "female": "female", "nam": "male", "nữ": "female", "nu": "female",
            "m": "male", "f": "female", "": None}
_TN_COMMUNES = frozenset(code for code, _ in ids.communes_of_province(
    ids.THAI_NGUYEN_PROVINCE_CODE))


def _desc_matcher(desc: Any) -> Callable[[str], bool]:
    if desc is None or desc.national_number_pattern is None:
        return lambda _nsn: False
    pattern = re.compile(desc.national_number_pattern)
    lengths = frozenset(desc.possible_length or ())

    def matches(nsn: str) -> bool:
        # As phonenumbers' _is_number_matching_desc: the length first, then the pattern.
        if lengths and -1 not in lengths and len(nsn) not in lengths:
            return False
        return pattern.fullmatch(nsn) is not None
    return matches


def _fast_phone_checker() -> Callable[[str], str | None]:
    """The common spellings "0912345678" and "+84912345678" without phonenumbers.parse.

    Mirrors phonenumbers' number_type() on VN's metadata: a 9-digit national number is MOBILE
    (or FIXED_LINE_OR_MOBILE) exactly when it matches the general and mobile patterns and none
    of the types checked before them. Only an *acceptance* shortcut: anything else goes
    through ``normalize_phone`` (which also words the error). Equivalence is tested with
    hypothesis in tests/unit/services/test_citizen_import.py."""
    from phonenumbers import PhoneMetadata

    meta = PhoneMetadata.metadata_for_region("VN")
    general, mobile = _desc_matcher(meta.general_desc), _desc_matcher(meta.mobile)
    # The types number_type() tests before fixed line and mobile; absent ones never match.
    before = [_desc_matcher(desc) for desc in (
        meta.premium_rate, meta.toll_free, meta.shared_cost, meta.voip, meta.personal_number,
        meta.pager, meta.uan, meta.voicemail) if desc is not None
        and desc.national_number_pattern is not None]
    # Fixed-line numbers are 10 digits in VN, never 9: a 9-digit match of the mobile pattern
    # is MOBILE, or FIXED_LINE_OR_MOBILE should a fixed pattern ever match too; both accepted.
    shape = re.compile(r"(?:0|\+84)([1-9][0-9]{8})")

    def check(raw: str) -> str | None:
        # Spaces between digits are what phonenumbers strips first ("0912 345 678").
        m = shape.fullmatch(raw.strip().replace(" ", ""))
        if m is None:
            return None
        nsn = m[1]
        if not (general(nsn) and mobile(nsn)):
            return None
        for excluded in before:
            if excluded(nsn):
                return None
        return "+84" + nsn
    return check


_fast_phone = _fast_phone_checker()


# A name that is already clean: Vietnamese letters (NFC) in single-space-separated words.
# normalize_full_name returns such a name unchanged (letters only, no digits, starts with a
# letter, nothing to collapse); anything else takes the full path.
_VN_WORD = "[A-Za-z" + "".join(sorted(_VN_LETTERS)) + "]+"
_CLEAN_NAME = re.compile(f"{_VN_WORD}(?: {_VN_WORD})*")
_FOLDED_WORDS: dict[str, str] = {}


def _clean_name(raw: str) -> tuple[str, str] | None:
    """(name, fold_name(name)) for an already clean name, folding word by word with a cache
    (a province has a few thousand distinct name words)."""
    if not 2 <= len(raw) <= 100 or _CLEAN_NAME.fullmatch(raw) is None:
        return None
    folded = []
    for word in raw.split(" "):
        f = _FOLDED_WORDS.get(word)
        if f is None:
            f = ids.fold_name(word)
            if len(_FOLDED_WORDS) < 100_000:
                _FOLDED_WORDS[word] = f
        folded.append(f)
    return raw, " ".join(folded)


def _error(column: str, message: Any) -> tuple[str, str, tuple[tuple[str, str], ...]]:
    # A LazyString from lazy_gettext keeps its msgid and placeholders: pickled as plain text.
    if isinstance(message, LazyString):
        msgid = message._args[0] if message._args else str(message)
        return column, msgid, tuple((k, str(v)) for k, v in message._kwargs.items())
    return column, str(message), ()


def check_row(line: int, row: Sequence[str], order: Sequence[int], today: date) -> Checked:
    """Validate one CSV row (fields in ``order`` = positions of COLUMNS); pure."""
    if len(row) != len(COLUMNS):
        return line, None, [("", "This row has %(found)s values instead of %(expected)s.",
                             (("found", str(len(row))), ("expected", str(len(COLUMNS)))))]
    raw = [row[i] for i in order]
    errors = []
    cccd = name = birthdate = gender = phone = commune = None
    email: str | None = None
    try:
        cccd = ids.normalize_cccd(raw[0])
    except InvalidInput as e:
        errors.append(_error("cccd", e.message))
    folded = ""
    if clean := _clean_name(raw[1]):
        name, folded = clean
    else:
        try:
            name = ids.normalize_full_name(raw[1])
            folded = ids.fold_name(name)
        except InvalidInput as e:
            errors.append(_error("full_name", e.message))
    try:
        birthdate = ids.parse_birthdate(raw[2], today=today)
    except InvalidInput as e:
        errors.append(_error("birthdate", e.message))
    given = unicodedata.normalize("NFC", raw[3].strip()).casefold()
    if given not in _GENDERS:
        errors.append(_error("gender", _l("Gender must be male or female.")))
    elif cccd is not None and birthdate is not None:
        try:
            gender = ids.check_cccd_consistency(cccd, birthdate, _GENDERS[given])  # type: ignore[arg-type]
        except InvalidInput as e:
            errors.append(_error(e.field, e.message))
    phone = _fast_phone(raw[4])
    if phone is None:
        try:
            phone = ids.normalize_phone(raw[4])
        except InvalidInput as e:
            errors.append(_error("phone", e.message))
    try:
        email = ids.normalize_email(raw[5])
    except InvalidInput as e:
        errors.append(_error("email", e.message))
    commune_raw = raw[6].strip()
    if commune_raw in _TN_COMMUNES:
        commune = commune_raw
    elif not commune_raw:
        errors.append(_error("commune_code", _l("Please choose a commune or ward from the list.")))
    else:
        try:
            commune = ids.normalize_commune_code(commune_raw,
                                                 province_code=ids.THAI_NGUYEN_PROVINCE_CODE)
        except InvalidInput as e:
            errors.append(_error("commune_code", e.message))
    if errors:
        return line, None, errors
    assert cccd and name and birthdate and gender and phone and commune
    return line, (cccd, name, folded, birthdate, gender, phone, email, commune), []


def check_rows(batch: tuple[list[tuple[int, list[str]]], tuple[int, ...], date]
               ) -> list[Checked]:
    rows, order, today = batch
    return [check_row(line, row, order, today) for line, row in rows]


# --- Pass 2: import -------------------------------------------------------------------------


class ErrorSink:
    """Collects row errors: the first ``keep`` in memory, all of them to ``writer`` if any."""

    def __init__(self, keep: int, report: IO[str] | None = None) -> None:
        self.keep = keep
        self.kept: list[RowError] = []
        self.count = 0
        self.writer = csv.writer(report, lineterminator="\n") if report else None
        if self.writer:
            self.writer.writerow(("row", "column", "reason", "reason_en"))

    def add(self, error: RowError) -> None:
        self.count += 1
        if len(self.kept) < self.keep:
            self.kept.append(error)
        if self.writer:
            self.writer.writerow((error.row, error.column, error.reason(), error.reason_en()))


def write_report(errors: Iterable[RowError], out: IO[str]) -> None:
    """The error report as CSV: row, column, reason (current language), reason_en."""
    sink = ErrorSink(0, out)
    for error in errors:
        sink.add(error)


def import_csv(
    session: Session,
    stream: IO[bytes],
    *,
    today: date,
    now: datetime,
    actor_type: str,
    actor_id: str | None,
    ip: str | None = None,
    limits: ImportLimits = ImportLimits(),
    dry_run: bool = False,
    workers: int = 0,
    report: IO[str] | None = None,
    progress: Callable[[int], None] | None = None,
    inspection: Inspection | None = None,
    reason: str | None = None,
) -> ImportResult:
    """Import a seekable binary CSV stream; commits chunk by chunk (nothing when ``dry_run``).

    Raises ImportRefused (nothing written) for a structural problem. ``progress(n)`` is called
    with the number of rows handled since the last call. One audit entry per run."""
    inspection = inspection or inspect(stream, limits)
    result = ImportResult(encoding=inspection.label, dry_run=dry_run)
    sink = ErrorSink(limits.max_errors_kept, report)
    order = tuple(inspection.columns.index(c) for c in COLUMNS)
    text = io.TextIOWrapper(stream, encoding=inspection.encoding, newline="")
    reader = csv.reader(text)
    next(reader)  # the header, already checked
    writer = _Writer(session, now=now, dry_run=dry_run, actor_type=actor_type,
                     actor_id=actor_id, ip=ip)
    pool = None
    if workers > 0 and inspection.lines > limits.chunk_rows:
        # spawn, not fork: the parent holds database connections and maybe threads.
        pool = ProcessPoolExecutor(workers, mp_context=get_context("spawn"))
    try:
        batches = ((chunk, order, today) for chunk in _chunks(reader, limits.chunk_rows))
        checked = _bounded_map(pool, batches, workers * 2) if pool else map(check_rows, batches)
        for rows in checked:
            writer.write(rows, sink, result)
            if progress:
                progress(len(rows))
    except Exception as error:
        # Stopped part-way (database gone, disk full, a worker died...): the chunks already
        # committed stay, and the trail must say so, in a transaction of its own.
        session.rollback()
        if not dry_run:
            result.error_count = sink.count
            audit.record(session, AUDIT_ACTION, actor_type=actor_type, actor_id=actor_id, ip=ip,
                         now=now, outcome="failure",
                         details={**result.summary(), "bytes": inspection.size,
                                  "stopped": type(error).__name__,
                                  **({"reason": reason} if reason else {})})
            session.commit()
        raise
    finally:
        if pool:
            pool.shutdown(cancel_futures=True)
        text.detach()
    result.errors, result.error_count = sink.kept, sink.count
    if dry_run:
        session.rollback()
        return result
    audit.record(session, AUDIT_ACTION, actor_type=actor_type, actor_id=actor_id, ip=ip,
                 now=now, details={**result.summary(), "bytes": inspection.size,
                                   **({"reason": reason} if reason else {})})
    session.commit()
    writer.finish()
    return result


def _bounded_map(pool: ProcessPoolExecutor, batches: Iterator[Any], ahead: int
                 ) -> Iterator[list[Checked]]:
    """pool.map in order, but with at most ``ahead`` chunks in flight: Executor.map would read
    the whole file into memory at once."""
    pending: deque[Future[list[Checked]]] = deque()
    for batch in batches:
        pending.append(pool.submit(check_rows, batch))
        if len(pending) >= ahead:
            yield pending.popleft().result()
    while pending:
        yield pending.popleft().result()


def record_refusal(session: Session, refusal: ImportRefused, *, actor_type: str,
                   actor_id: str | None, ip: str | None, now: datetime,
                   reason: str | None = None) -> None:
    """Audit entry for a refused file (the caller commits)."""
    details = {"refused": _english(refusal.message), **({"reason": reason} if reason else {})}
    audit.record(session, AUDIT_ACTION, actor_type=actor_type, actor_id=actor_id, ip=ip, now=now,
                 outcome="failure", details=details)


class _Joined:
    """Several lazy messages joined by "; ", rendered in the language of the moment."""

    def __init__(self, parts: list[LazyString]) -> None:
        self.parts = parts

    def __str__(self) -> str:
        return "; ".join(str(p) for p in self.parts)

    def english(self) -> str:
        return "; ".join(_english(p) for p in self.parts)


def _english(message: LazyString | str) -> str:
    """The English (msgid) text of a lazy message, for audit entries and logs."""
    if isinstance(message, LazyString):
        msgid = message._args[0]
        if not message._kwargs:
            return msgid
        values = {k: v.english() if isinstance(v, _Joined) else v
                  for k, v in message._kwargs.items()}
        return msgid % values
    return str(message)


def _chunks(reader: Iterator[list[str]], size: int) -> Iterator[list[tuple[int, list[str]]]]:
    chunk: list[tuple[int, list[str]]] = []
    while True:
        try:
            row = next(reader)
        except StopIteration:
            break
        except csv.Error:
            # A quoted value running over many lines past the csv module's field limit: a
            # bad row like any other (reported by its value count), not a failed import.
            row = [""]
        else:
            if not row or (len(row) == 1 and not row[0].strip()):
                continue  # blank lines (a trailing one is common)
        chunk.append((reader.line_num, row))  # type: ignore[attr-defined]
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


class _IntSet:
    """A set of ints in ~10 bytes each instead of ~100 for a Python set (1.3 M CCCDs: 15 MB,
    not 135): a sorted array('q') plus a small set of recent additions, merged now and then.
    Lookups are a bisect (C) and a set probe."""

    _MERGE_AT = 262_144

    def __init__(self) -> None:
        self.sorted = array("q")
        self.recent: set[int] = set()

    def __contains__(self, value: int) -> bool:
        if value in self.recent:
            return True
        i = bisect_left(self.sorted, value)
        return i < len(self.sorted) and self.sorted[i] == value

    def add(self, value: int) -> None:
        self.recent.add(value)
        if len(self.recent) >= self._MERGE_AT:
            merged = array("q", self.sorted)
            merged.extend(self.recent)
            self.sorted = array("q", sorted(merged))
            self.recent.clear()


class _Writer:
    """Classifies checked rows against the database and writes them, one transaction per
    chunk."""

    _LOOKUP = 2000  # keys per IN (...) query: well under SQLite's variable limit

    def __init__(self, session: Session, *, now: datetime, dry_run: bool,
                 actor_type: str = "system", actor_id: str | None = None,
                 ip: str | None = None) -> None:
        self.session = session
        self.now = now
        self.dry_run = dry_run
        self.actor = {"actor_type": actor_type, "actor_id": actor_id, "ip": ip}
        self.table = Citizen.__table__
        # CCCDs seen in the file so far (in-file duplicates).
        self.seen = _IntSet()
        # Phone numbers of the file's accepted rows, as ints (in-file conflicts; a dry run
        # writes nothing, so the database would not show earlier chunks' phones).
        self.phones = _IntSet()
        self.fresh: bool | None = None
        self.sqlite = session.get_bind().dialect.name == "sqlite"
        self._tuned = False

    def _tune(self) -> None:
        # A bigger page cache for this connection only: index pages of 1.3 M rows stay in
        # memory instead of being re-read from the OS. Journal mode stays WAL.
        # The app's memory-mapped reads are off too: every mapped page of a 400 MB database
        # would count as this process's resident memory.
        if self.sqlite and not self._tuned:
            connection = self.session.connection()
            connection.exec_driver_sql(f"PRAGMA cache_size=-{SQLITE_CACHE_KIB}")
            connection.exec_driver_sql("PRAGMA mmap_size=0")
            self._tuned = True

    def finish(self) -> None:
        if self._tuned:  # the pooled connection goes back as the app configured it
            connection = self.session.connection()
            connection.exec_driver_sql("PRAGMA cache_size=-2000")
            connection.exec_driver_sql(f"PRAGMA mmap_size={SQLITE_APP_MMAP}")
            self.session.commit()

    def write(self, rows: list[Checked], sink: ErrorSink, result: ImportResult) -> None:
        self._tune()
        if self.fresh is None:
            # Into an empty table (the province's first load) nothing can exist yet: the
            # per-chunk lookups are skipped; the in-file sets catch duplicates, and the
            # UNIQUE constraints (with the row-by-row retry) anyone registering meanwhile.
            self.fresh = self.session.execute(select(self.table.c.id).limit(1)).first() is None
        result.rows += len(rows)
        valid: dict[str, tuple[int, Valid]] = {}
        for line, row, errors in rows:
            if errors:
                result.error_rows += 1
                for column, msgid, params in errors:
                    sink.add(RowError(line, column, msgid, params))
                continue
            assert row is not None
            key = int(row[0])
            if key in self.seen:
                result.error_rows += 1
                sink.add(RowError(line, "cccd", _DUPLICATE_CCCD))
                continue
            phone = int(row[5][1:])
            if phone in self.phones:  # an earlier row (another CCCD) of the file has it
                result.error_rows += 1
                sink.add(RowError(line, "phone", _PHONE_TAKEN))
                continue
            self.seen.add(key)
            self.phones.add(phone)
            valid[row[0]] = (line, row)
        if not valid:
            return
        if self.fresh:
            existing: dict[str, tuple[Any, ...]] = {}
            taken: dict[str, str] = {}
        else:
            existing = self._existing(list(valid))
            taken = self._phone_owners([row[5] for _, row in valid.values()])
        inserts: list[tuple[int, Valid]] = []
        updates: list[_Update] = []
        for cccd, (line, row) in valid.items():
            owner = taken.get(row[5])
            if owner is not None and owner != cccd:
                result.error_rows += 1
                sink.add(RowError(line, "phone", _PHONE_TAKEN))
                continue
            # The checked row is already the tuple to write: no dict per row.
            old = existing.get(cccd)
            if old is None:
                inserts.append((_uuid7_int(), row))
                continue
            new = (row[1], row[3], row[4], row[5], row[6], row[7])
            if old[0] == new:
                result.unchanged += 1
                continue
            # Only rows that change an existing citizen get here (rare): the slow path.
            _, citizen_id, protected = old
            changed = tuple(name for name, was, value in zip(UPDATABLE, old[0], new, strict=True)
                            if was != value)
            if protected:
                refused = [(name, _IDENTITY_CHANGE) for name in changed
                           if name in IDENTITY_FIELDS]
                if "phone" in changed:
                    refused.append(("phone", _PHONE_CHANGE))
                if refused:
                    result.error_rows += 1
                    for column, msgid in refused:
                        sink.add(RowError(line, column, msgid))
                    continue
            updates.append(_Update(row, citizen_id, changed))
        self._flush(inserts, updates, sink, result, valid)

    def _existing(self, cccds: list[str]) -> dict[str, tuple[Any, ...]]:
        """cccd -> ((the UPDATABLE fields), id, protected) for the CCCDs in the database.

        ``protected``: checked in person, activated or a verified phone, computed by the
        database (one boolean, not the password hash, crosses the wire)."""
        t = self.table
        found: dict[str, tuple[Any, ...]] = {}
        for i in range(0, len(cccds), self._LOOKUP):
            query = select(t.c.cccd, t.c.full_name, t.c.birthdate, t.c.gender, t.c.phone,
                           t.c.email, t.c.commune_code, t.c.id, _PROTECTED).where(
                t.c.cccd.in_(cccds[i:i + self._LOOKUP]))
            for cccd, *rest in self.session.execute(query):
                found[cccd] = (tuple(rest[:6]), rest[6], bool(rest[7]))
        return found

    def _phone_owners(self, phones: list[str]) -> dict[str, str]:
        t = self.table
        owners: dict[str, str] = {}
        for i in range(0, len(phones), self._LOOKUP):
            query = select(t.c.phone, t.c.cccd).where(t.c.phone.in_(phones[i:i + self._LOOKUP]))
            owners.update((phone, cccd) for phone, cccd in self.session.execute(query))
        return owners

    def _flush(self, inserts: list[tuple[int, Valid]], updates: list[_Update],
               sink: ErrorSink, result: ImportResult,
               valid: dict[str, tuple[int, Valid]]) -> None:
        if self.dry_run:
            result.created += len(inserts)
            result.updated += len(updates)
            return
        try:
            missed = self._execute(inserts, updates)
            self._refuse_missed(missed, sink, result, valid)
            self._audit_updates(updates, missed)
            self.session.commit()
            result.created += len(inserts)
            result.updated += len(updates) - len(missed)
        except IntegrityError:
            # Someone registered one of these CCCDs or phones between our check and the write
            # (a sign-up, an officer): redo the chunk row by row, the culprits become errors.
            self.session.rollback()
            self._tuned = False
            self._tune()
            retries: list[tuple[str, Any]] = [("i", v) for v in inserts]
            retries += [("u", v) for v in updates]
            for kind, values in retries:
                cccd = values[1][0] if kind == "i" else values.row[0]
                try:
                    with self.session.begin_nested():
                        if kind == "i":
                            self._execute([values], [])
                        else:
                            missed = self._execute([], [values])
                            self._refuse_missed(missed, sink, result, valid)
                            self._audit_updates([values], missed)
                except IntegrityError:
                    result.error_rows += 1
                    sink.add(RowError(valid[cccd][0], "phone", _CONFLICT))
                    continue
                if kind == "i":
                    result.created += 1
                elif not missed:
                    result.updated += 1
            self.session.commit()

    @staticmethod
    def _refuse_missed(missed: list[_Update], sink: ErrorSink, result: ImportResult,
                       valid: dict[str, tuple[int, Valid]]) -> None:
        # The citizen was checked, activated or verified the phone between our lookup and
        # the UPDATE: its guard matched nothing, and the row is refused like any other.
        for update in missed:
            result.error_rows += 1
            line = valid[update.row[0]][0]
            for name in update.changed:
                if name in IDENTITY_FIELDS:
                    sink.add(RowError(line, name, _IDENTITY_CHANGE))
            if "phone" in update.changed:
                sink.add(RowError(line, "phone", _PHONE_CHANGE))

    def _audit_updates(self, updates: list[_Update], missed: list[_Update]) -> None:
        """One entry per changed citizen, in the chunk's transaction (rare: only rows that
        really change an existing citizen). Field names only, never the values."""
        skip = {id(u) for u in missed}
        audit.record_many(self.session, AUDIT_UPDATED, [
            {"citizen_id": update.citizen_id, "details": {"fields": list(update.changed)}}
            for update in updates if id(update) not in skip], now=self.now, **self.actor)

    def _not_updated(self, cursor: Any, group: list[_Update], mark: str) -> list[_Update]:
        """The updates of ``group`` whose citizen is protected (or gone): not written."""
        writable: set[str] = set()
        for i in range(0, len(group), self._LOOKUP):
            cccds = [update.row[0] for update in group[i:i + self._LOOKUP]]
            cursor.execute(f"SELECT cccd FROM citizens WHERE cccd IN "
                           f"({', '.join([mark] * len(cccds))}) AND {_UNPROTECTED_SQL}", cccds)
            writable.update(cccd for cccd, in cursor.fetchall())
        return [update for update in group if update.row[0] not in writable]

    # Raw DBAPI executemany (inside the session's transaction): SQLAlchemy's per-row bind
    # processing cost more than SQLite's own work. Values are converted as SQLAlchemy stores
    # them: on SQLite a Uuid is 32 hex digits, dates and datetimes ISO text.
    _COLUMNS = ("id", "cccd", "full_name", "name_folded", "birthdate", "gender", "phone",
                "email", "commune_code", "identity_level", "status", "failed_attempts",
                "unlock_required", "created_at", "updated_at")

    def _execute(self, inserts: list[tuple[int, Valid]], updates: list[_Update]
                 ) -> list[_Update]:
        """Write; returns the updates whose guard matched nothing (not written)."""
        connection = self.session.connection().connection.driver_connection
        assert connection is not None
        now = self.now
        if self.sqlite:
            stamp: Any = now.strftime("%Y-%m-%d %H:%M:%S.%f")
            convert: Callable[[Any], Any] = lambda d: d.isoformat()  # noqa: E731
            mark, active, false = "?", "active", 0
        else:
            stamp, convert, mark, active, false = now, lambda d: d, "%s", "active", False
        cursor = connection.cursor()
        try:
            if inserts:
                sqlite = self.sqlite
                rows = [(f"{key:032x}" if sqlite else uuid.UUID(int=key), v[0], v[1], v[2],
                         convert(v[3]), v[4], v[5], v[6], v[7], 1, active, 0, false, stamp,
                         stamp)
                        for key, v in inserts]
                columns = ", ".join(self._COLUMNS)
                if self.sqlite:
                    cursor.executemany(
                        f"INSERT INTO citizens ({columns}) VALUES "
                        f"({', '.join([mark] * len(self._COLUMNS))})", rows)
                else:
                    # COPY: several times faster than INSERTs; a duplicate key fails it whole,
                    # which the caller handles by retrying row by row.
                    with cursor.copy(f"COPY citizens ({columns}) FROM STDIN") as copy:
                        for row in rows:
                            copy.write_row(row)
            missed: list[_Update] = []
            # Only the changed columns are set: a field the citizen changed meanwhile is not
            # reverted to the file's old value. One executemany per set of changed fields.
            groups: dict[tuple[str, ...], list[_Update]] = {}
            for update in updates:
                groups.setdefault(update.changed, []).append(update)
            for changed, group in groups.items():
                sets = [f"{name}={mark}" for name in changed]
                if "full_name" in changed:
                    sets.append(f"name_folded={mark}")
                if "phone" in changed:
                    sets.append("phone_verified_at=NULL")  # a new number is not verified
                sets.append(f"updated_at={mark}")
                guarded = any(name in _GUARDED for name in changed)
                where = f"cccd={mark}" + (f" AND {_UNPROTECTED_SQL}" if guarded else "")
                params = []
                for update in group:
                    v = update.row
                    values = {"full_name": v[1], "birthdate": convert(v[3]), "gender": v[4],
                              "phone": v[5], "email": v[6], "commune_code": v[7]}
                    params.append((*(values[name] for name in changed),
                                   *((v[2],) if "full_name" in changed else ()), stamp, v[0]))
                cursor.executemany(
                    f"UPDATE citizens SET {', '.join(sets)} WHERE {where}", params)
                if guarded and cursor.rowcount != len(group):
                    # Someone was checked, activated or verified the phone since the lookup
                    # (their guard matched nothing): find them. Rare, so a second query.
                    missed += self._not_updated(cursor, group, mark)
            return missed
        except Exception as error:
            _raise_integrity(error)
            raise
        finally:
            cursor.close()


def _raise_integrity(error: Exception) -> None:
    """DBAPI unique-key violations as SQLAlchemy's IntegrityError (raw cursors bypass it)."""
    import sqlite3

    names = {"IntegrityError", "UniqueViolation"}
    if isinstance(error, sqlite3.IntegrityError) or type(error).__name__ in names:
        raise IntegrityError("bulk import", None, error) from error


@dataclass(frozen=True, eq=False)
class _Update:
    """A row that changes an existing citizen: which fields, and whose id (for the audit)."""

    row: Valid
    citizen_id: uuid.UUID
    changed: tuple[str, ...]


# Checked in person, activated or a verified phone: the import may no longer change who the
# citizen is, nor the recovery phone.
_t = Citizen.__table__
_PROTECTED = or_(_t.c.identity_level >= 2, _t.c.password_hash.is_not(None),
                 _t.c.phone_verified_at.is_not(None))
_UNPROTECTED_SQL = ("identity_level = 1 AND password_hash IS NULL "
                    "AND phone_verified_at IS NULL")
_GUARDED = (*IDENTITY_FIELDS, "phone")
del _t

_DUPLICATE_CCCD = ("This citizen ID number (CCCD) appears more than once in the file; "
                   "only its first valid row was imported.")
_PHONE_TAKEN = "This phone number is already used by another citizen."
_CONFLICT = "This citizen ID number or phone number was registered by someone else meanwhile."
# Extraction markers: the constants above are translated where they are shown (RowError.reason).
_l("This citizen ID number (CCCD) appears more than once in the file; only its first valid "
   "row was imported.")
_l("This phone number is already used by another citizen.")
_l("This citizen ID number or phone number was registered by someone else meanwhile.")
_l("This row has %(found)s values instead of %(expected)s.")
_IDENTITY_CHANGE = ("This citizen was checked in person or has activated the account: "
                    "changed identity data needs an in-person check at the commune office.")
_PHONE_CHANGE = ("This citizen has activated the account or verified the phone number: the "
                 "phone number is the account's recovery channel and only the citizen can "
                 "change it.")
_l("This citizen was checked in person or has activated the account: changed identity data "
   "needs an in-person check at the commune office.")
_l("This citizen has activated the account or verified the phone number: the phone number is "
   "the account's recovery channel and only the citizen can change it.")


def _uuid7_int() -> int:
    """A time-ordered UUID as an int (RFC 9562 version 7: 48-bit milliseconds, then 74
    random bits).

    New rows then land at the end of the primary-key index instead of at random pages: with
    1.3 M rows, random UUIDs made SQLite rewrite most index pages at every commit (measured:
    the whole import 2.3x slower). It reveals only the creation time, which created_at holds
    anyway. The id is the public ``sub`` of public-subject apps, so its random part comes from
    the OS's cryptographic generator — read in blocks (one call per row cost more than the
    insert's SQL), so no id can be predicted from the ones an app has seen."""
    bits = int.from_bytes(_random_block.take(), "big") >> 6  # 80 bits -> 74
    return (((time.time_ns() // 1_000_000) << 80) | (0x7 << 76) | ((bits >> 62) << 64)
            | (2 << 62) | (bits & ((1 << 62) - 1)))


class _RandomBlock:
    """10-byte pieces of one ``os.urandom`` read of ``size`` pieces; thread-safe (two
    uploads in two server threads never share a piece)."""

    def __init__(self, size: int = 4096) -> None:
        self.size, self.block, self.offset = size, b"", 0
        self.lock = threading.Lock()

    def take(self) -> bytes:
        with self.lock:
            if self.offset >= len(self.block):
                self.block, self.offset = os.urandom(10 * self.size), 0
            piece = self.block[self.offset:self.offset + 10]
            self.offset += 10
            return piece


_random_block = _RandomBlock()


def default_workers() -> int:
    """Validating processes besides the writer. The writer (CSV parsing, lookups, SQL) is
    the slower half, so one worker keeps up on two cores; a third process would only
    compete with the writer and add ~60 MB."""
    cpus = os.cpu_count() or 1
    return 1 if cpus <= 2 else 2
