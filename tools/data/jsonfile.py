"""Read JSONL, or a file that is one JSON array, with line numbers: strict, capped, one-line errors.

    for lineno, obj in read_items("chats.jsonl"): ...

UTF-8 (a BOM is allowed), at most `MAX_RECORD_BYTES` per line or array element, strict JSON (no
NaN/Infinity, no out-of-range numbers, no 4,300-digit integers). Lines are split on b"\\n" only, so
U+2028 inside a string never breaks a record. Every problem is a `TunepilotError` naming path:line.
Used by the importers (tools/data/importers.py) and to read a dataset folder back (tools/data/io.py).
"""

from __future__ import annotations

import codecs
import json
import math
import re
import stat
from pathlib import Path
from typing import Any, Iterator

from tunepilot import TunepilotError

WS_RE = re.compile(r"[ \t\n\r]*")  # JSON's whitespace, not Unicode's
MAX_RECORD_BYTES = 1 << 20  # one JSONL line / array element; a real conversation is far smaller
MAX_INT_DIGITS = 4300  # Python's own int-parsing limit, refused as a line error instead of a traceback


class _NotJSON(ValueError):
    """A value strict JSON does not have (NaN, Infinity, 1e999) or Python will not parse (huge ints)."""


def _constant(name: str):
    raise _NotJSON(f"{name} is not valid JSON")


def _float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise _NotJSON(f"number {text[:20]} is out of range")
    return value


def _int(text: str) -> int:
    if len(text) > MAX_INT_DIGITS:
        raise _NotJSON(f"integer with {len(text)} digits")
    return int(text)


DECODER = json.JSONDecoder(parse_constant=_constant, parse_float=_float, parse_int=_int)


def _decode(text: str, pos: int, where: str) -> tuple[Any, int]:
    """(value, end) of the JSON value at `pos`; any problem is a TunepilotError naming `where`."""
    try:
        return DECODER.raw_decode(text, pos)
    except json.JSONDecodeError as e:
        raise TunepilotError(f"{where}: not JSON ({e.msg}, column {e.colno})") from None
    except _NotJSON as e:
        raise TunepilotError(f"{where}: not JSON ({e})") from None
    except RecursionError:
        raise TunepilotError(f"{where}: not JSON (nested too deeply)") from None


def _too_big(size: int, where: str, what: str) -> TunepilotError:
    return TunepilotError(f"{where}: {what} is {size:,} bytes, over the limit of {MAX_RECORD_BYTES:,} bytes per record")


def read_file(path: Path) -> bytes:
    """The file's bytes, BOM removed; a missing file, a folder or a device is a one-line error."""
    try:
        st = path.stat()
        if stat.S_ISDIR(st.st_mode):
            raise TunepilotError(f"{path}: cannot read: it is a folder; name a .jsonl or .json file")
        if not stat.S_ISREG(st.st_mode):
            raise TunepilotError(f"{path}: cannot read: not a regular file")
        data = path.read_bytes()
    except OSError as e:
        raise TunepilotError(f"{path}: cannot read: {(e.strerror or str(e)).lower()}") from None
    return data[len(codecs.BOM_UTF8):] if data.startswith(codecs.BOM_UTF8) else data


def _jsonl(data: bytes, path: str) -> Iterator[tuple[int, Any]]:
    for lineno, raw in enumerate(data.split(b"\n"), 1):  # not splitlines(): U+2028 may sit in strings
        where = f"{path}:{lineno}"
        if len(raw) > MAX_RECORD_BYTES:
            raise _too_big(len(raw), where, "the line")
        try:
            line = raw.decode("utf-8")
        except UnicodeDecodeError as e:
            raise TunepilotError(f"{where}: not UTF-8 (byte 0x{raw[e.start]:02x} at byte {e.start + 1} "
                                 "of the line)") from None
        if line.strip(" \t\r"):
            start = WS_RE.match(line).end()
            obj, end = _decode(line, start, where)
            if line[end:].strip(" \t\r"):
                raise TunepilotError(f"{where}: not JSON (extra data after the record, column {end + 1}); "
                                     "one record per line")
            yield lineno, obj


def _array(data: bytes, path: str) -> Iterator[tuple[int, Any]]:
    """The elements of a file that is one JSON array, each with the line it starts on."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        lineno, column = data.count(b"\n", 0, e.start) + 1, e.start - data.rfind(b"\n", 0, e.start)
        raise TunepilotError(f"{path}:{lineno}: not UTF-8 (byte 0x{data[e.start]:02x} at byte {column} "
                             "of the line)") from None
    lineno, seen = 1, 0

    def line_at(pos: int) -> int:
        nonlocal lineno, seen
        lineno, seen = lineno + text.count("\n", seen, pos), pos
        return lineno

    pos = WS_RE.match(text, WS_RE.match(text).end() + 1).end()  # past '['
    if text.startswith("]", pos):
        pos = WS_RE.match(text, pos + 1).end()
    else:
        while True:
            where = f"{path}:{line_at(pos)}"
            obj, end = _decode(text, pos, where)
            if end - pos > MAX_RECORD_BYTES // 4:  # a character is at most 4 bytes: only then can it be too big
                size = len(text[pos:end].encode("utf-8", "surrogatepass"))
                if size > MAX_RECORD_BYTES:
                    raise _too_big(size, where, "the array element")
            yield lineno, obj
            pos = WS_RE.match(text, end).end()
            if text.startswith(",", pos):
                pos = WS_RE.match(text, pos + 1).end()
            elif text.startswith("]", pos):
                pos = WS_RE.match(text, pos + 1).end()
                break
            elif pos == len(text):
                raise TunepilotError(f"{path}:{line_at(end)}: not JSON (the array is never closed with ']')")
            else:
                raise TunepilotError(f"{path}:{line_at(pos)}: not JSON (expected ',' or ']' between records)")
    if pos != len(text):
        raise TunepilotError(f"{path}:{line_at(pos)}: not JSON (text after the closing ']' of the array)")


def read_items(path: str | Path, data: bytes | None = None) -> Iterator[tuple[int, Any]]:
    """(line number, parsed JSON) of each record of a JSONL file, or of a file that is one JSON array
    (each element with the line it starts on). Any problem is a `TunepilotError` naming path:line.
    Also fit for reading back a dataset folder's split files (no records in an empty file)."""
    data = read_file(Path(path)) if data is None else data
    yield from (_array if data.lstrip(b" \t\r\n")[:1] == b"[" else _jsonl)(data, str(path))
