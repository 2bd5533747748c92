"""Streaming parser for Amazon's ``GET_V2_SETTLEMENT_REPORT_DATA_FLAT_FILE_V2`` (tab-separated).

What it accepts
    ``bytes`` / ``bytearray``, a ``str`` holding the file's text (anything with a tab or a line
    break), a path (``str`` without tabs/line breaks, or any ``os.PathLike``) or a binary stream.
    Non-seekable streams and gzip-compressed documents are spooled to a temporary file first, so
    :meth:`SettlementFile.row_at` can re-read single lines later.

Encoding and line breaks
    UTF-8, UTF-8 with BOM, and Windows-1252. Each line is decoded as UTF-8 when it is valid UTF-8,
    otherwise as Windows-1252 (ASCII is the same in both, and Windows-1252 text is almost never
    valid UTF-8); :attr:`SettlementFile.encoding` says which was seen (``utf-8``, ``utf-8-sig``,
    ``windows-1252``, or ``mixed`` with a warning). LF and CRLF are both read.

Columns
    Mapped by header *name* (case-insensitive; ``_`` and spaces read as ``-``), in any order. The 23
    documented columns plus the optional ``promotion-id``; unknown extra columns are tolerated and
    reported. Missing required columns raise one :class:`SettlementFormatError` naming all of them.

Rows
    The first data row is the settlement summary (settlement-id, dates, deposit-date, total-amount,
    currency). Every later row is a transaction row. A malformed transaction row (wrong column count,
    bad amount or date, a currency other than the settlement's, a field over 2,000 characters, control
    characters, a second summary row, a repeated header) is *quarantined* with its 1-based file line
    number and a reason; parsing continues. A cut-off last line is quarantined too, so a truncated
    download is never mistaken for a complete one.

Amounts
    Locale-aware: ``95,00``, ``1.234,56``, ``1,234.56``, ``-12.5``, ``1 234,56``, ``1'234.56``. A
    value that carries its own evidence (both separators, or a separator not followed by exactly three
    digits) is read by that evidence. A value that is ambiguous on its own (``1.234``, ``1,234``) is
    read with the *file's* decimal separator, decided from the summary's total-amount, else from the
    caller's hint (the marketplace's locale), else from the first unambiguous amount in the file. More
    decimal places than the currency allows (non-zero) quarantines the row rather than rounding it.

Timestamps
    ``posted-date-time`` (``YYYY-MM-DD HH:MM:SS UTC``) is authoritative; ISO 8601 with an offset or
    ``Z`` and ``DD.MM.YYYY HH:MM:SS UTC`` are read too. Only when it is absent or empty is
    ``posted-date`` used (day precision, with a warning); its ``MM/DD/YY`` vs ``DD/MM/YY`` ambiguity is
    settled by the settlement window, or the row is quarantined.
"""

from __future__ import annotations

import gzip
import io
import os
import re
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from types import TracebackType
from typing import IO, Literal, Union

from airflow_provider_amznetsuite.domain.money import CURRENCY_MINOR_UNITS

REPORT_TYPE = "GET_V2_SETTLEMENT_REPORT_DATA_FLAT_FILE_V2"

DOCUMENTED_COLUMNS: tuple[str, ...] = (
    "settlement-id", "settlement-start-date", "settlement-end-date", "deposit-date", "total-amount",
    "currency", "transaction-type", "order-id", "merchant-order-id", "adjustment-id", "shipment-id",
    "marketplace-name", "amount-type", "amount-description", "amount", "fulfillment-id", "posted-date",
    "posted-date-time", "order-item-code", "merchant-order-item-id", "merchant-adjustment-item-id", "sku",
    "quantity-purchased",
)
OPTIONAL_COLUMNS: tuple[str, ...] = ("promotion-id",)
KNOWN_COLUMNS = frozenset(DOCUMENTED_COLUMNS + OPTIONAL_COLUMNS)
# Without these a settlement cannot be balanced, classified or matched. posted-date-time OR posted-date
# is required as well (checked separately). The other documented columns may be absent (an older
# variant lacks order-item-code, for example); their absence is reported as a warning.
REQUIRED_COLUMNS: tuple[str, ...] = (
    "settlement-id", "settlement-start-date", "settlement-end-date", "deposit-date", "total-amount",
    "currency", "transaction-type", "order-id", "adjustment-id", "amount-type", "amount-description",
    "amount",
)
MAX_FIELD_CHARS = 2000
#: Longest line read (28 columns at MAX_FIELD_CHARS fit); longer lines are quarantined without being held.
MAX_LINE_BYTES = 256 * 1024
MAX_AMOUNT_INTEGER_DIGITS = 18  # exact Decimal sums of 10^7 such rows stay far inside reconcile's 60-digit context
MAX_UTC_OFFSET_MINUTES = 18 * 60  # ISO 8601 / RFC 3339 practice; real zones stay within ±14:00
#: Largest decompressed settlement file read (a real 1 M-line settlement is ~250 MB); a gzip bomb stops here.
MAX_DECOMPRESSED_BYTES = 2 * 1024**3
#: Rows dated further than this outside the settlement's start/end are quarantined (1970, 2099 …).
WINDOW_SLACK = timedelta(days=31)
LOOKAHEAD_LINES = 20_000  # lines read ahead to infer the decimal separator when the summary cannot tell
_CACHE_LIMIT = 50_000  # per-file caches of timestamp and amount texts

Source = Union[bytes, bytearray, memoryview, str, "os.PathLike[str]", IO[bytes]]
DecimalSeparator = Literal[".", ","]

_SETTLEMENT_ID_RE = re.compile(r"[A-Za-z0-9_-]{1,64}")
_CURRENCY_RE = re.compile(r"[A-Z]{3}")
# C0 controls except TAB, DEL, C1 controls, Unicode line/paragraph separators and bidi overrides.
_CTRL_RE = re.compile("[\x00-\x08\x0a-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")
_SIMPLE_AMOUNT_RE = re.compile(r"([+-]?)([0-9]+)(?:([.,])([0-9]+))?")
_PRINTABLE_ASCII_AND_TAB = bytes(range(0x20, 0x7F)) + b"\t"  # deleting these leaves only control bytes
_THOUSANDS_CHARS = frozenset(" '\u00a0\u202f")
_TIMESTAMP_RE = re.compile(
    r"(?:([0-9]{4})-([0-9]{1,2})-([0-9]{1,2})|([0-9]{1,2})\.([0-9]{1,2})\.([0-9]{4}))"
    r"(?:[T ]([0-9]{1,2}):([0-9]{2})(?::([0-9]{2})(?:[.,]([0-9]{1,9}))?)?)?"
    r" *(UTC|GMT|Z|[+-][0-9]{2}:?[0-9]{2})?",
    re.IGNORECASE,
)
_SLASH_DATE_RE = re.compile(r"([0-9]{1,2})/([0-9]{1,2})/([0-9]{2}|[0-9]{4})")
UTC = timezone.utc


class SettlementFormatError(ValueError):
    """The file cannot be read as a V2 settlement report at all (as opposed to one bad row)."""


class RowError(ValueError):
    """One value of one row is malformed; the message is the quarantine reason."""


@dataclass(frozen=True, slots=True)
class SettlementSummary:
    """The first data row: the settlement as a whole."""

    settlement_id: str
    start: datetime
    end: datetime
    deposit_date: datetime
    total_amount: Decimal
    currency: str
    line: int


@dataclass(slots=True)
class SettlementRow:
    """One transaction row. ``line`` is the 1-based physical line in the file, ``offset`` its byte offset.

    A plain slots dataclass (not frozen: frozen construction is ~10x slower on the million-row path);
    treat it as read-only.
    """

    line: int
    offset: int
    transaction_type: str
    order_id: str
    merchant_order_id: str
    adjustment_id: str
    shipment_id: str
    marketplace_name: str
    amount_type: str
    amount_description: str
    amount: Decimal
    fulfillment_id: str
    posted: datetime
    period: str  # 'YYYY-MM' of ``posted`` (UTC)
    order_item_code: str
    merchant_order_item_id: str
    merchant_adjustment_item_id: str
    sku: str
    quantity: int | None
    promotion_id: str
    posted_from_date: bool  # True when posted-date-time was missing and posted-date was used


@dataclass(frozen=True, slots=True)
class QuarantinedRow:
    """A data line that could not be read; never dropped silently."""

    line: int
    offset: int
    reason: str
    transaction_type: str = ""
    order_id: str = ""
    amount_type: str = ""
    amount_description: str = ""
    amount_text: str = ""
    sku: str = ""


@dataclass(frozen=True, slots=True)
class Balance:
    total_amount: Decimal
    lines_total: Decimal
    difference: Decimal  # lines_total - total_amount
    balanced: bool


def check_balance(total_amount: Decimal, lines_total: Decimal) -> Balance:
    """Exact Decimal comparison: Σ parsed row amounts must equal the summary's total-amount."""
    diff = lines_total - total_amount
    return Balance(total_amount, lines_total, diff, diff == 0)


@dataclass(slots=True)
class HeaderInfo:
    columns: tuple[str, ...]  # normalised names in file order
    unknown_columns: tuple[str, ...]
    missing_documented: tuple[str, ...]  # documented but absent (not required)
    has_promotion_id: bool


# --------------------------------------------------------------------------------------------
# value parsers (pure functions, unit-tested on their own)
# --------------------------------------------------------------------------------------------
def show(value: str, limit: int = 40) -> str:
    """A value quoted for a reason line: clipped, with control characters escaped."""
    clipped = value if len(value) <= limit else value[:limit] + "…"
    return repr(clipped)


def clip(value: str, limit: int = 200) -> str:
    value = _CTRL_RE.sub("\ufffd", value)
    return value if len(value) <= limit else value[:limit] + "…"


def normalise_column(name: str) -> str:
    return "-".join(name.strip().lower().replace("_", "-").split())


def amount_evidence(text: str) -> DecimalSeparator | None:
    """The decimal separator a single amount proves on its own, or None when it proves nothing."""
    s = text.strip().lstrip("+-")
    has_dot, has_comma = "." in s, "," in s
    if has_dot and has_comma:
        return "." if s.rfind(".") > s.rfind(",") else ","
    for sep in (".", ","):
        if sep in s:
            count = s.count(sep)
            if count > 1:
                return "," if sep == "." else "."  # repeated => thousands separator
            if any(c in _THOUSANDS_CHARS for c in s):
                return sep  # '1 234,56': the other separator is already the thousands one
            tail = s.rsplit(sep, 1)[1]
            if tail.isdigit() and len(tail) != 3:
                return sep  # type: ignore[return-value]
            return None
    return None


def currency_evidence(text: str, minor_units: int) -> DecimalSeparator | None:
    """Like :func:`amount_evidence`, also using the currency: in a currency without minor units a lone
    separator followed by exactly three digits (``1,001`` in JPY) can only group thousands. The answer
    is returned only when the amount actually parses with it (a garbled ``12..3`` proves nothing)."""
    found = amount_evidence(text)
    if found is None and minor_units == 0:
        s = text.strip().lstrip("+-")
        seps = {c for c in s if c in ".,"}
        if len(seps) == 1:
            sep = seps.pop()
            if s.count(sep) == 1 and s.rsplit(sep, 1)[1].isdigit() and len(s.rsplit(sep, 1)[1]) == 3:
                found = "," if sep == "." else "."
    if found is None:
        return None
    try:
        parse_amount(text, found, minor_units)
    except RowError:
        return None
    return found


def parse_amount(text: str, decimal_separator: DecimalSeparator, minor_units: int) -> Decimal:
    """Parse one amount; raises :class:`RowError` with a readable reason."""
    s = text.strip()
    if not s:
        raise RowError("amount is empty")
    m = _SIMPLE_AMOUNT_RE.fullmatch(s)
    if m is not None:
        sign, int_part, sep, frac = m.groups()
        if sep is None:
            frac = ""
        elif len(frac) == 3 and sep != decimal_separator:
            # '1,234' in a '.'-decimal file: thousands separator
            if len(int_part) > 3:
                raise RowError(f"amount {show(text)} is not a number (bad digit grouping)")
            int_part, frac = int_part + frac, ""
    else:
        sign, int_part, frac = _parse_grouped(s, text)
    if len(int_part.lstrip("0")) > MAX_AMOUNT_INTEGER_DIGITS:
        raise RowError(f"amount {show(text)} has {len(int_part.lstrip('0'))} digits before the decimal separator "
                       f"(limit {MAX_AMOUNT_INTEGER_DIGITS}) — not a settlement amount; check the amount column")
    if frac and len(frac) > minor_units and frac[minor_units:].strip("0"):
        raise RowError(
            f"amount {show(text)} has {len(frac)} decimal places, more than the currency's {minor_units}"
            " — check the file's decimal separator"
        )
    return Decimal(f"{sign}{int_part}.{frac}" if frac else f"{sign}{int_part}")


def _parse_grouped(s: str, original: str) -> tuple[str, str, str]:
    sign = ""
    if s[0] in "+-":
        sign, s = ("-" if s[0] == "-" else ""), s[1:].lstrip()
    bad = RowError(f"amount {show(original)} is not a number")
    if not s or not s[0].isdigit() or not s[-1].isdigit():
        raise bad
    if any(not (c.isdigit() and c.isascii()) and c not in ".," and c not in _THOUSANDS_CHARS for c in s):
        raise bad
    has_dot, has_comma = "." in s, "," in s
    decimal_sep: str | None = None
    if has_dot and has_comma:
        decimal_sep = "." if s.rfind(".") > s.rfind(",") else ","
        if s.count(decimal_sep) != 1:
            raise bad
    elif has_dot or has_comma:
        sep = "." if has_dot else ","
        if s.count(sep) == 1 and any(c in _THOUSANDS_CHARS for c in s):
            decimal_sep = sep
    if decimal_sep is not None:
        int_text, frac = s.rsplit(decimal_sep, 1)
        if not frac.isdigit():
            raise bad
    else:
        int_text, frac = s, ""
    thousands = {c for c in int_text if not c.isdigit()}
    if len(thousands) > 1:
        raise bad
    if thousands:
        groups = int_text.split(thousands.pop())
        if not (1 <= len(groups[0]) <= 3) or any(len(g) != 3 for g in groups[1:]) or not all(g.isdigit() for g in groups):
            raise RowError(f"amount {show(original)} is not a number (bad digit grouping)")
        int_part = "".join(groups)
    else:
        int_part = int_text
    if not int_part.isdigit():
        raise bad
    return sign, int_part, frac


def parse_timestamp(text: str, *, allow_date_only: bool = False) -> tuple[datetime, bool]:
    """Parse a settlement timestamp to an aware UTC datetime.

    Returns ``(value, zone_assumed)``; ``zone_assumed`` is True when the text had no zone and UTC was
    assumed. Raises :class:`RowError`.
    """
    s = text.strip()
    if len(s) == 23 and s.endswith(" UTC") and s[4] == "-" and s[10] == " ":
        try:
            return datetime(int(s[0:4]), int(s[5:7]), int(s[8:10]), int(s[11:13]), int(s[14:16]), int(s[17:19]),
                            tzinfo=UTC), False
        except ValueError:
            pass  # fall through to the general reader for a precise reason
    m = _TIMESTAMP_RE.fullmatch(s)
    if m is None:
        raise RowError(f"{show(text)} is not a timestamp (expected 'YYYY-MM-DD HH:MM:SS UTC')")
    y1, mo1, d1, d2, mo2, y2, hh, mi, ss, frac, zone = m.groups()
    if hh is None and not allow_date_only:
        raise RowError(f"{show(text)} has no time of day (expected 'YYYY-MM-DD HH:MM:SS UTC')")
    year, month, day = (int(y1), int(mo1), int(d1)) if y1 else (int(y2), int(mo2), int(d2))
    micro = int((frac or "0")[:6].ljust(6, "0"))
    try:
        value = datetime(year, month, day, int(hh or 0), int(mi or 0), int(ss or 0), micro)
    except ValueError as exc:
        raise RowError(f"{show(text)} is not a valid date/time ({exc})") from None
    assumed = False
    if zone is None or zone.upper() in ("UTC", "GMT", "Z"):
        assumed = zone is None and hh is not None
        tz = UTC
    else:
        sign = 1 if zone[0] == "+" else -1
        digits = zone[1:].replace(":", "")
        hours, minutes = int(digits[:2]), int(digits[2:])
        if minutes >= 60 or hours * 60 + minutes > MAX_UTC_OFFSET_MINUTES:
            raise RowError(f"{show(text)} has an impossible UTC offset {zone} (at most ±18:00; minutes below 60)")
        tz = timezone(sign * timedelta(hours=hours, minutes=minutes))
    try:
        return value.replace(tzinfo=tz).astimezone(UTC), assumed
    except OverflowError:
        raise RowError(f"{show(text)} is outside the supported date range once converted to UTC") from None


def parse_posted_date(text: str, window: tuple[date, date]) -> datetime:
    """Day-precision fallback for rows without posted-date-time.

    ``YYYY-MM-DD`` and ``DD.MM.YYYY`` are unambiguous. ``NN/NN/YY`` is read as MM/DD/YY (documented)
    and as DD/MM/YY (observed); the reading inside the settlement window (± 1 day) wins. Two
    different readings inside the window, or none, raise :class:`RowError`.
    """
    s = text.strip()
    if not s:
        raise RowError("posted-date-time and posted-date are both empty")
    m = _SLASH_DATE_RE.fullmatch(s)
    if m is None:
        value, _ = parse_timestamp(s, allow_date_only=True)
        return value
    a, b, yy = int(m.group(1)), int(m.group(2)), m.group(3)
    year = int(yy) + (2000 if len(yy) == 2 else 0)
    low, high = window[0] - timedelta(days=1), window[1] + timedelta(days=1)
    candidates = set()
    for month, day in ((a, b), (b, a)):
        try:
            d = date(year, month, day)
        except ValueError:
            continue
        if low <= d <= high:
            candidates.add(d)
    if len(candidates) != 1:
        why = "is ambiguous (MM/DD/YY or DD/MM/YY)" if candidates else "is outside the settlement period"
        raise RowError(f"posted-date {show(text)} {why} and posted-date-time is empty")
    d = candidates.pop()
    return datetime(d.year, d.month, d.day, tzinfo=UTC)


# --------------------------------------------------------------------------------------------
# the file reader
# --------------------------------------------------------------------------------------------
def _too_big() -> str:
    return (f"the file is larger than {MAX_DECOMPRESSED_BYTES / 1024**3:g} GiB, far beyond any settlement report "
            "(a 1 M-line settlement is ~250 MB); it is not read — check the download")


def _open_binary(source: Source) -> tuple[IO[bytes], bool, int, bool]:
    """(binary stream, owned by us, start offset, source was already-decoded text)."""
    if isinstance(source, (bytes, bytearray, memoryview)):
        return io.BytesIO(bytes(source)), True, 0, False
    if isinstance(source, str):
        if "\n" in source or "\t" in source or "\r" in source:
            return io.BytesIO(source.encode("utf-8")), True, 0, True
        return open(source, "rb"), True, 0, False  # noqa: SIM115 - closed by SettlementFile.close
    if isinstance(source, os.PathLike):
        return open(os.fspath(source), "rb"), True, 0, False  # noqa: SIM115
    read = getattr(source, "read", None)
    if read is None:
        raise TypeError(f"cannot read a settlement from {type(source).__name__}; pass bytes, text, a path or a binary stream")
    if isinstance(read(0), str):
        raise TypeError("the settlement stream is in text mode; open the file in binary mode ('rb')")
    stream: IO[bytes] = source  # type: ignore[assignment]
    seekable = False
    try:
        seekable = bool(stream.seekable())
    except (AttributeError, OSError, ValueError):
        seekable = False
    if seekable:
        return stream, False, stream.tell(), False
    spool = tempfile.SpooledTemporaryFile(max_size=32 * 1024 * 1024)  # noqa: SIM115
    size = 0
    while piece := stream.read(1024 * 1024):
        size += len(piece)
        if size > MAX_DECOMPRESSED_BYTES:
            spool.close()
            raise SettlementFormatError(_too_big())
        spool.write(piece)
    spool.seek(0)
    return spool, True, 0, False  # type: ignore[return-value]


class SettlementFile:
    """An open V2 settlement report: header and summary read eagerly, rows streamed by :meth:`rows`.

    Use as a context manager. ``rows()`` can be iterated once; quarantined lines accumulate in
    :attr:`quarantined` as iteration proceeds, and file-level notes in :attr:`warnings`.
    """

    def __init__(self, source: Source, *, decimal_separator: DecimalSeparator | None = None,
                 lookahead_lines: int = LOOKAHEAD_LINES) -> None:
        if decimal_separator not in (None, ".", ","):
            raise ValueError(f"decimal_separator must be '.' or ',' (got {decimal_separator!r})")
        self._fh, self._owned, self._start, self._from_text = _open_binary(source)
        self.quarantined: list[QuarantinedRow] = []
        self.warnings: list[str] = []
        self.blank_lines: list[int] = []  # the first ten only (a file of blank lines costs nothing)
        self.blank_count = 0
        self._row_bounds: tuple[datetime, datetime] | None = None
        self._bom = False
        self._utf8_lines = 0
        self._cp1252_lines = 0
        self._crlf = 0
        self._lf = 0
        self._unterminated = False
        self._zone_assumed = 0
        self._from_date = 0
        self._iterated = False
        self._finished = False
        self._buffer: list[tuple[bytes, int, int]] = []
        self._ts_cache: dict[str, tuple[datetime, str]] = {}
        self.rows_read = 0
        try:
            self._maybe_gunzip()
            self._read_head(decimal_separator, lookahead_lines)
        except BaseException:
            self.close()
            raise

    # -- lifecycle ---------------------------------------------------------------------------
    def close(self) -> None:
        if self._owned:
            self._fh.close()

    def __enter__(self) -> SettlementFile:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.close()

    # -- reporting ---------------------------------------------------------------------------
    @property
    def encoding(self) -> str:
        if self._from_text:
            return "text"
        if self._cp1252_lines and (self._utf8_lines or self._bom):
            return "mixed"
        if self._cp1252_lines:
            return "windows-1252"
        return "utf-8-sig" if self._bom else "utf-8"

    @property
    def line_endings(self) -> str:
        if self._crlf and self._lf:
            return "mixed"
        if self._crlf:
            return "CRLF"
        return "LF" if self._lf else "none"

    # -- head --------------------------------------------------------------------------------
    def _maybe_gunzip(self) -> None:
        if self._fh.seek(0, os.SEEK_END) - self._start > MAX_DECOMPRESSED_BYTES:
            raise SettlementFormatError(_too_big())
        self._fh.seek(self._start)
        magic = self._fh.read(2)
        self._fh.seek(self._start)
        if magic != b"\x1f\x8b":
            return
        spool = tempfile.SpooledTemporaryFile(max_size=32 * 1024 * 1024)  # noqa: SIM115
        try:
            with gzip.GzipFile(fileobj=self._fh, mode="rb") as gz:
                size = 0
                while piece := gz.read(1024 * 1024):
                    size += len(piece)
                    if size > MAX_DECOMPRESSED_BYTES:
                        spool.close()
                        raise SettlementFormatError(
                            f"the gzip file inflates past {MAX_DECOMPRESSED_BYTES // 1024**3} GiB, far beyond any "
                            "settlement report (a 1 M-line settlement is ~250 MB); it is not read — re-download it")
                    spool.write(piece)
        except (OSError, EOFError) as exc:
            spool.close()
            raise SettlementFormatError(f"the file is gzip-compressed but cannot be decompressed ({exc}); re-download the report") from None
        spool.seek(0)
        self.close()
        self._fh, self._owned, self._start = spool, True, 0  # type: ignore[assignment]
        self.warnings.append("the file was gzip-compressed (decompressed before reading)")

    def _decode_header(self, raw: bytes) -> str:
        if raw.startswith(b"\xef\xbb\xbf"):
            self._bom = True
            raw = raw[3:]
        elif raw.startswith((b"\xff\xfe", b"\xfe\xff")):
            raise SettlementFormatError(
                "the file is UTF-16; Amazon serves settlement reports as UTF-8 or Windows-1252 — "
                "re-download it without converting, or save it as UTF-8"
            )
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError:
            try:
                self._cp1252_lines += 1
                return raw.decode("cp1252")
            except UnicodeDecodeError:
                raise SettlementFormatError("line 1 (header) is neither UTF-8 nor Windows-1252 text") from None

    def _read_head(self, hint: DecimalSeparator | None, lookahead_lines: int) -> None:
        fh = self._fh
        raw = fh.readline()
        if not raw:
            raise SettlementFormatError("the file is empty; expected a V2 settlement report with a header line")
        offset = len(raw)
        text = self._decode_header(raw).rstrip("\r\n")
        if "\r" in text:
            raise SettlementFormatError("line breaks are bare CR characters; convert the file to LF or CRLF line breaks")
        raw_names = text.split("\t")
        names = [normalise_column(n) for n in raw_names]
        seen_names: set[str] = set()
        dup = sorted({n for n in names if n and (n in seen_names or seen_names.add(n))})  # linear in the header
        if dup:
            raise SettlementFormatError(f"header names these columns more than once: {', '.join(dup)}; keep one of each")
        index = {n: i for i, n in enumerate(names)}
        missing = [c for c in REQUIRED_COLUMNS if c not in index]
        if "posted-date-time" not in index and "posted-date" not in index:
            missing.append("posted-date-time (or posted-date)")
        if missing:
            hint_text = ""
            if "price-type" in index or "item-related-fee-type" in index or "other-fee-reason-description" in index:
                hint_text = (" — this looks like the legacy GET_V2_SETTLEMENT_REPORT_DATA_FLAT_FILE (36 columns); "
                             f"download {REPORT_TYPE} instead")
            elif len(names) == 1:
                hint_text = " — the header has a single column; the file must be tab-separated"
            raise SettlementFormatError(
                f"line 1 (header) lacks required column(s): {', '.join(missing)}{hint_text}"
            )
        unknown = tuple(raw_names[i].strip() or f"(blank column {i + 1})" for i, n in enumerate(names) if n not in KNOWN_COLUMNS)
        missing_doc = tuple(c for c in DOCUMENTED_COLUMNS if c not in index)
        self.header = HeaderInfo(tuple(names), unknown, missing_doc, "promotion-id" in index)
        if unknown:
            self.warnings.append(f"unknown column(s) ignored: {', '.join(clip(u, 60) for u in unknown)}")
        if missing_doc:
            self.warnings.append(f"documented column(s) absent: {', '.join(missing_doc)}")
        self._ncols = len(names)
        self._index = index

        # summary row: the first non-blank line after the header
        lineno = 1
        while True:
            raw = fh.readline()
            if not raw:
                raise SettlementFormatError("no settlement summary row after the header (the file has no data)")
            lineno += 1
            offset += len(raw)
            body = self._strip_terminator(raw)
            try:
                text = self._decode(body)
            except UnicodeDecodeError:
                raise SettlementFormatError(f"line {lineno} (summary) is neither UTF-8 nor Windows-1252 text") from None
            if text.strip():
                break
            self._blank(lineno)
        parts = text.split("\t")
        if len(parts) != self._ncols:
            raise SettlementFormatError(
                f"line {lineno} (summary) has {len(parts)} columns but the header has {self._ncols}; "
                "the file must be tab-separated with one value per header column"
            )
        get = self._getter(parts)
        if get("transaction-type").strip() or get("amount").strip() or not get("total-amount").strip():
            raise SettlementFormatError(
                f"line {lineno} is not a settlement summary row: the first data row must carry settlement-id, "
                "dates, deposit-date, total-amount and currency only (transaction-type and amount empty)"
            )
        sid = get("settlement-id").strip()
        if not _SETTLEMENT_ID_RE.fullmatch(sid):
            raise SettlementFormatError(
                f"line {lineno}: settlement-id {show(sid)} is not a settlement id (letters, digits, '_' or '-', at most 64)"
            )
        currency = get("currency").strip().upper()
        if not _CURRENCY_RE.fullmatch(currency) or currency not in CURRENCY_MINOR_UNITS:
            raise SettlementFormatError(f"line {lineno}: currency {show(get('currency'))} is not an ISO-4217 currency code")
        dates: dict[str, datetime] = {}
        for col in ("settlement-start-date", "settlement-end-date", "deposit-date"):
            value = get(col)
            if not value.strip():
                raise SettlementFormatError(f"line {lineno} (summary): {col} is empty")
            try:
                dates[col], _ = parse_timestamp(value, allow_date_only=True)
            except RowError as exc:
                raise SettlementFormatError(f"line {lineno} (summary): {col} {exc}") from None
        self._minor = CURRENCY_MINOR_UNITS[currency]
        self._currency = currency
        self._settlement_id = sid
        self._window = (dates["settlement-start-date"].date(), dates["settlement-end-date"].date())
        self._row_bounds = (dates["settlement-start-date"] - WINDOW_SLACK, dates["settlement-end-date"] + WINDOW_SLACK)
        self._next_lineno = lineno
        self._next_offset = offset

        # decimal separator: the summary's own evidence, else the hint, else look ahead
        total_text = get("total-amount")
        evidence = currency_evidence(total_text, self._minor)
        if evidence is not None:
            self.decimal_separator: DecimalSeparator = evidence
            self.decimal_source = "summary"
            if hint is not None and hint != evidence:
                self.warnings.append(
                    f"amounts use decimal {evidence!r} although the marketplace locale suggests {hint!r}; the file's own format wins"
                )
        elif hint is not None:
            self.decimal_separator, self.decimal_source = hint, "hint"
        else:
            found = self._look_ahead(lookahead_lines)
            if found is None:
                self.decimal_separator, self.decimal_source = ".", "default"
                self.warnings.append("no amount shows its decimal separator; assumed '.'")
            else:
                self.decimal_separator, self.decimal_source = found, "inferred"
        try:
            total = parse_amount(total_text, self.decimal_separator, self._minor)
        except RowError as exc:
            raise SettlementFormatError(f"line {lineno} (summary): total-amount: {exc}") from None
        self._processor = self._make_processor()
        self.summary = SettlementSummary(
            settlement_id=sid, start=dates["settlement-start-date"], end=dates["settlement-end-date"],
            deposit_date=dates["deposit-date"], total_amount=total, currency=currency, line=lineno,
        )

    def _look_ahead(self, limit: int) -> DecimalSeparator | None:
        i_amt = self._index["amount"]
        lineno, offset = self._next_lineno, self._next_offset
        found: DecimalSeparator | None = None
        for _ in range(limit):
            raw = self._fh.readline()
            if not raw:
                break
            lineno += 1
            self._buffer.append((raw, lineno, offset))
            offset += len(raw)
            parts = raw.split(b"\t")
            if len(parts) == self._ncols:
                try:
                    found = currency_evidence(parts[i_amt].decode("ascii"), self._minor)
                except UnicodeDecodeError:
                    found = None
                if found is not None:
                    break
        self._next_lineno, self._next_offset = lineno, offset
        return found

    # -- helpers -----------------------------------------------------------------------------
    def _getter(self, parts: list[str]):  # noqa: ANN202 - tiny closure
        index = self._index

        def get(col: str) -> str:
            i = index.get(col)
            return parts[i] if i is not None and i < len(parts) else ""

        return get

    def _strip_terminator(self, raw: bytes) -> bytes:
        if raw.endswith(b"\n"):
            if raw.endswith(b"\r\n"):
                self._crlf += 1
                return raw[:-2]
            self._lf += 1
            return raw[:-1]
        self._unterminated = True
        return raw

    def _decode(self, body: bytes) -> str:
        if body.isascii():
            return body.decode("ascii")
        try:
            text = body.decode("utf-8")
            self._utf8_lines += 1
            return text
        except UnicodeDecodeError:
            text = body.decode("cp1252")  # may raise: the caller quarantines the line
            self._cp1252_lines += 1
            return text

    def _timestamp(self, text: str) -> tuple[datetime, str]:
        hit = self._ts_cache.get(text)
        if hit is not None:
            return hit
        value, assumed = parse_timestamp(text)
        bounds = self._row_bounds
        if bounds is not None and not (bounds[0] <= value <= bounds[1]):
            raise RowError(f"{show(text)} is more than {WINDOW_SLACK.days} days outside the settlement period "
                           f"({bounds[0] + WINDOW_SLACK:%Y-%m-%d} to {bounds[1] - WINDOW_SLACK:%Y-%m-%d}); Amazon dates "
                           "every row within it — check the file, the line is not posted")
        if assumed:
            self._zone_assumed += 1
        hit = (value, sys.intern(f"{value.year:04d}-{value.month:02d}"))
        if len(self._ts_cache) >= _CACHE_LIMIT:
            self._ts_cache.clear()
        self._ts_cache[text] = hit
        return hit

    # -- rows --------------------------------------------------------------------------------
    def rows(self) -> Iterator[SettlementRow]:
        """Yield every readable transaction row in file order (quarantining the rest)."""
        if self._iterated:
            raise RuntimeError("SettlementFile.rows() can be iterated only once; open the file again")
        self._iterated = True
        process = self._processor
        for raw, lineno, offset in self._buffer:
            row = process(raw, lineno, offset)
            if row is not None:
                yield row
        self._buffer = []
        lineno, offset = self._next_lineno, self._next_offset
        self._fh.seek(self._start + offset)
        readline = self._fh.readline
        limit = MAX_LINE_BYTES
        while raw := readline(limit):
            lineno += 1
            if len(raw) == limit and raw[-1:] != b"\n":  # an overlong line: skip to its end, never hold it
                size = len(raw)
                while (more := readline(limit)) and more[-1:] != b"\n":
                    size += len(more)
                size += len(more)
                self._quarantine(lineno, offset, f"line is {size:,} bytes long, over the {limit:,}-byte limit of a "
                                 "settlement line (every column at its limit fits); the file looks corrupt", None)
                offset += size
                continue
            row = process(raw, lineno, offset)
            offset += len(raw)
            if row is not None:
                yield row
        self._finish()

    def _finish(self) -> None:
        if self._finished:
            return
        self._finished = True
        if self.blank_count:
            shown = ", ".join(str(n) for n in self.blank_lines[:10])
            more = f" and {self.blank_count - 10} more" if self.blank_count > 10 else ""
            self.warnings.append(f"{self.blank_count} blank line(s) skipped (line {shown}{more})")
        if self.encoding == "mixed":
            self.warnings.append(
                f"mixed encoding: {self._cp1252_lines} line(s) were not UTF-8 and were read as Windows-1252"
            )
        if self.line_endings == "mixed":
            self.warnings.append("mixed line breaks (LF and CRLF)")
        if self._zone_assumed:
            self.warnings.append(f"{self._zone_assumed} distinct posted-date-time value(s) had no time zone; UTC assumed")
        if self._from_date:
            self.warnings.append(
                f"{self._from_date} row(s) have no posted-date-time; their period comes from posted-date (day precision)"
            )
        if self._unterminated and not (self.quarantined and self.quarantined[-1].reason.startswith("last line")):
            self.warnings.append("the file does not end with a line break (last line complete, but check the download)")

    def _blank(self, lineno: int) -> None:
        self.blank_count += 1
        if len(self.blank_lines) < 10:
            self.blank_lines.append(lineno)

    def _quarantine(self, lineno: int, offset: int, reason: str, parts: list[str] | None) -> None:
        if parts is not None:
            get = self._getter(parts)
            self.quarantined.append(QuarantinedRow(
                lineno, offset, reason, clip(get("transaction-type")), clip(get("order-id")), clip(get("amount-type")),
                clip(get("amount-description")), clip(get("amount")), clip(get("sku")),
            ))
        else:
            self.quarantined.append(QuarantinedRow(lineno, offset, reason))

    def _process(self, raw: bytes, lineno: int, offset: int) -> SettlementRow | None:
        """Read one physical line (the hot path is the closure built by :meth:`_make_processor`)."""
        return self._processor(raw, lineno, offset)

    def _make_processor(self):  # noqa: ANN202, C901 - one closure keeps the per-line work in local variables
        """Compile the per-line reader for this file's header (indices and settings bound as locals)."""
        idx = self._index
        ncols = self._ncols
        absent = ncols  # every row gets one extra '' at this index, used for absent optional columns
        i_sid, i_total, i_cur, i_amt = idx["settlement-id"], idx["total-amount"], idx["currency"], idx["amount"]
        i_tt, i_oid, i_adj, i_at, i_ad = (idx["transaction-type"], idx["order-id"], idx["adjustment-id"],
                                          idx["amount-type"], idx["amount-description"])
        i_moid, i_ship, i_mkt, i_fid = (idx.get("merchant-order-id", absent), idx.get("shipment-id", absent),
                                        idx.get("marketplace-name", absent), idx.get("fulfillment-id", absent))
        i_pdt, i_pd, i_oic = idx.get("posted-date-time", absent), idx.get("posted-date", absent), idx.get("order-item-code", absent)
        i_moii, i_maii, i_sku = (idx.get("merchant-order-item-id", absent), idx.get("merchant-adjustment-item-id", absent),
                                 idx.get("sku", absent))
        i_qty, i_promo = idx.get("quantity-purchased", absent), idx.get("promotion-id", absent)
        columns = self.header.columns
        settlement_id, currency, minor = self._settlement_id, self._currency, self._minor
        decimal_sep = self.decimal_separator
        window = self._window
        ts_cache = self._ts_cache
        ctrl_search = _CTRL_RE.search
        printable_ascii = _PRINTABLE_ASCII_AND_TAB
        amount_cache: dict[str, Decimal] = {}
        intern = sys.intern
        quarantine = self._quarantine
        timestamp = self._timestamp
        row_cls = SettlementRow
        max_chars = MAX_FIELD_CHARS

        def process(raw: bytes, lineno: int, offset: int) -> SettlementRow | None:
            if raw[-1:] == b"\n":
                terminated = True
                if raw[-2:] == b"\r\n":
                    self._crlf += 1
                    body = raw[:-2]
                else:
                    self._lf += 1
                    body = raw[:-1]
            else:
                terminated = False
                self._unterminated = True
                body = raw
            ascii_line = body.isascii()
            if ascii_line:
                text = body.decode("ascii")
            else:
                try:
                    text = self._decode(body)
                except UnicodeDecodeError as exc:
                    quarantine(lineno, offset, f"line is neither UTF-8 nor Windows-1252 text (byte 0x{body[exc.start]:02x})", None)
                    return None
            parts = text.split("\t")
            if len(parts) != ncols:
                if not text or text.isspace():
                    if terminated:
                        self._blank(lineno)
                    return None
                if not terminated:
                    reason = (f"last line is cut off: no line break at the end of the file and {len(parts)} of {ncols} "
                              "columns — the download looks truncated; re-download the report")
                else:
                    reason = f"has {len(parts)} columns but the header has {ncols}"
                quarantine(lineno, offset, reason, parts)
                return None
            if (body.translate(None, printable_ascii) if ascii_line else ctrl_search(text)):
                for i, p in enumerate(parts):
                    bad = ctrl_search(p)
                    if bad is not None:
                        quarantine(lineno, offset, f"control character U+{ord(bad.group()):04X} in column "
                                   f"{columns[i] or i + 1}", parts)
                        return None
            if len(text) > max_chars:
                for i, p in enumerate(parts):
                    if len(p) > max_chars:
                        quarantine(lineno, offset, f"column {columns[i] or i + 1} is {len(p)} characters long "
                                   f"(limit {max_chars})", parts)
                        return None
            sid = parts[i_sid]
            if sid != settlement_id:
                sid = sid.strip()
                if sid and sid != settlement_id:
                    if normalise_column(sid) == "settlement-id":
                        quarantine(lineno, offset, "the header line is repeated (two files joined?)", None)
                    else:
                        quarantine(lineno, offset, f"settlement-id {show(sid)} is not this file's settlement "
                                   f"{settlement_id}", parts)
                    return None
            if parts[i_total] and parts[i_total].strip():
                quarantine(lineno, offset, "total-amount is filled on a transaction row (a second summary row?); "
                           "only the first data row may carry it", parts)
                return None
            cur = parts[i_cur]
            if cur and cur != currency:
                cur = cur.strip()
                if cur and cur.upper() != currency:
                    quarantine(lineno, offset, f"currency {show(cur)} is not the settlement currency {currency}", parts)
                    return None
            parts.append("")
            try:
                amount_text = parts[i_amt]
                amount = amount_cache.get(amount_text)
                if amount is None:
                    amount = parse_amount(amount_text, decimal_sep, minor)
                    if len(amount_cache) >= _CACHE_LIMIT:
                        amount_cache.clear()
                    amount_cache[amount_text] = amount  # Decimals are immutable: sharing is safe
                pdt = parts[i_pdt]
                if pdt:
                    hit = ts_cache.get(pdt)
                    if hit is None:
                        try:
                            hit = timestamp(pdt.strip()) if pdt.strip() else None
                        except RowError as exc:
                            raise RowError(f"posted-date-time {exc}") from None
                else:
                    hit = None
                if hit is not None:
                    posted, period = hit
                    from_date = False
                else:
                    posted = parse_posted_date(parts[i_pd], window)
                    period = f"{posted.year:04d}-{posted.month:02d}"
                    from_date = True
                    self._from_date += 1
                qtext = parts[i_qty]
                quantity: int | None = None
                if qtext:
                    if qtext.isdigit() and qtext.isascii():
                        quantity = int(qtext)
                    else:
                        q = qtext.strip()
                        if not q:
                            quantity = None
                        elif q.isascii() and (q.isdigit() or (q[0] in "+-" and q[1:].isdigit())):
                            quantity = int(q)
                        else:
                            raise RowError(f"quantity-purchased {show(qtext)} is not a whole number")
            except RowError as exc:
                del parts[-1]
                quarantine(lineno, offset, str(exc), parts)
                return None
            self.rows_read += 1
            return row_cls(
                lineno, offset, intern(parts[i_tt].strip()), parts[i_oid].strip(), parts[i_moid].strip(),
                parts[i_adj].strip(), parts[i_ship], parts[i_mkt], intern(parts[i_at].strip()),
                intern(parts[i_ad].strip()), amount, parts[i_fid], posted, period, parts[i_oic], parts[i_moii],
                parts[i_maii], parts[i_sku].strip(), quantity, parts[i_promo], from_date,
            )

        return process

    def row_at(self, offset: int, line: int) -> SettlementRow | QuarantinedRow:
        """Re-read one line by its byte offset (as recorded on the row) without disturbing iteration."""
        fh = self._fh
        here = fh.tell()
        try:
            fh.seek(self._start + offset)
            raw = fh.readline()
        finally:
            fh.seek(here)
        saved = (self._crlf, self._lf, self._utf8_lines, self._cp1252_lines, self._unterminated,
                 self._from_date, self.rows_read, self._zone_assumed, len(self.quarantined), len(self.blank_lines),
                 self.blank_count)
        try:
            row = self._process(raw, line, offset)
            if row is None:
                return self.quarantined[-1] if len(self.quarantined) > saved[8] else QuarantinedRow(line, offset, "blank line")
            return row
        finally:
            (self._crlf, self._lf, self._utf8_lines, self._cp1252_lines, self._unterminated,
             self._from_date, self.rows_read, self._zone_assumed) = saved[:8]
            del self.quarantined[saved[8]:]
            del self.blank_lines[saved[9]:]
            self.blank_count = saved[10]


def open_settlement(source: Source, *, decimal_separator: DecimalSeparator | None = None) -> SettlementFile:
    """Open a V2 settlement report for streaming (use as a context manager)."""
    return SettlementFile(source, decimal_separator=decimal_separator)


@dataclass(slots=True)
class ParsedSettlement:
    """Everything of a (small) settlement in memory — for tests, previews and the sandbox demo."""

    summary: SettlementSummary
    rows: list[SettlementRow]
    quarantined: list[QuarantinedRow]
    warnings: list[str]
    encoding: str
    line_endings: str
    decimal_separator: str
    decimal_source: str
    header: HeaderInfo
    balance: Balance = field(init=False)

    def __post_init__(self) -> None:
        total = sum((r.amount for r in self.rows), Decimal(0))
        self.balance = check_balance(self.summary.total_amount, total)


def parse_settlement(source: Source, *, decimal_separator: DecimalSeparator | None = None) -> ParsedSettlement:
    """Read a whole settlement into memory (streaming callers use :func:`open_settlement`)."""
    with open_settlement(source, decimal_separator=decimal_separator) as sf:
        rows = list(sf.rows())
        return ParsedSettlement(sf.summary, rows, list(sf.quarantined), list(sf.warnings), sf.encoding,
                                sf.line_endings, sf.decimal_separator, sf.decimal_source, sf.header)


__all__ = [
    "DOCUMENTED_COLUMNS", "OPTIONAL_COLUMNS", "REQUIRED_COLUMNS", "MAX_FIELD_CHARS", "REPORT_TYPE",
    "Balance", "HeaderInfo", "ParsedSettlement", "QuarantinedRow", "RowError", "SettlementFile",
    "SettlementFormatError", "SettlementRow", "SettlementSummary", "Source", "amount_evidence", "check_balance",
    "normalise_column", "open_settlement", "parse_amount", "parse_posted_date", "parse_timestamp",
    "parse_settlement",
]
