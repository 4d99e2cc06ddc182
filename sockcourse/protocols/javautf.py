"""Java's *modified UTF-8*, as DataOutputStream.writeUTF writes it and DataInputStream.readUTF reads it.

A Java program that calls `out.writeUTF(s)` sends two things: an unsigned
16-bit big-endian length, then that many bytes of the string in a variant of
UTF-8 described in the Java SE 17 API docs of `java.io.DataInput` (section
"Modified UTF-8"). The class-file format uses the same bytes for its string
constants (JVM Specification, Java SE 17 edition, section 4.4.7,
CONSTANT_Utf8_info). It differs from the UTF-8 that Python's
`str.encode("utf-8")` makes in two ways, both visible in `layout()`:

- U+0000 is written as the two bytes C0 80, never as one 0x00 byte, so the
  encoded string holds no zero byte (C programs that end strings at a NUL
  can carry it);
- Java strings are UTF-16, and writeUTF encodes each 16-bit *code unit*, not
  each character: a character beyond U+FFFF (an emoji) is two surrogate
  units, written as two 3-byte groups (6 bytes) where UTF-8 uses one 4-byte
  sequence. Only the 1-, 2- and 3-byte forms exist.

writeUTF refuses a string whose encoding is longer than 65,535 bytes (the
length must fit in 2 bytes) with UTFDataFormatException. readUTF refuses,
with UTFDataFormatException, a group whose first byte is 10xxxxxx or
1111xxxx (so every 4-byte UTF-8 sequence), a 2- or 3-byte group whose next
bytes are not 10xxxxxx, and a group cut off by the end of the string. It
ACCEPTS what its rules do not forbid, and this module does the same, as
tried against the real Java 17 (tests/test_javautf.py):

- a plain 0x00 byte (it matches 0xxxxxxx) reads as U+0000, although
  writeUTF never writes one (the class-file format, stricter, forbids it);
- overlong forms: C1 BF reads as U+007F, E0 80 80 as U+0000, E0 81 81 as "A";
- surrogate units on their own: ED A0 80 reads as the lone unit U+D800.

Python strings hold code points, and they may hold lone surrogates too
("\\ud800"): `encode()` writes each one as its 3 bytes, exactly as Java
writes a String holding that unit, and `decode()` gives it back. A high
surrogate followed by a low one is one character in UTF-16, so
`decode(encode("\\ud83d\\ude00"))` is "😀", as Java would see it.

Pure functions of bytes and strings; no socket. `unframe()` on too few bytes
raises `IncompleteMessage` (read more and try again).
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass

from ..core.errors import ArgumentError, ArgumentTypeError, IncompleteMessage

__all__ = ["MAX_BYTES", "LENGTH_BYTES", "ModifiedUtf8Error", "TooLongForWriteUTF", "ShortFrame", "Piece",
           "encode", "decode", "frame", "unframe", "layout", "spaced_hex"]

#: The most bytes writeUTF can send after its 2-byte length (DataOutputStream.writeUTF, Java SE 17).
MAX_BYTES = 65_535

#: The length in front of every writeUTF string: an unsigned 16-bit big-endian number (writeShort).
LENGTH_BYTES = 2


# -- errors ------------------------------------------------------------------------------------
class ModifiedUtf8Error(ArgumentError):
    """Bytes that DataInputStream.readUTF refuses; `java_message` is the message Java gives for them.

    `start` is the offset in the body of the group that is wrong, `java_position` the byte
    number Java names ("malformed input around byte N"), or None when the end cut a group off.
    """

    def __init__(self, message: str, *, body: bytes, start: int, java_position: int | None):
        super().__init__(message)
        self.body, self.start, self.java_position = body, start, java_position

    @property
    def java_message(self) -> str:
        return _java_message(self.java_position)


def _java_message(position: int | None) -> str:
    # DataInputStream.readUTF's two messages (JDK 17), word for word.
    if position is None:
        return "malformed input: partial character at end"
    return f"malformed input around byte {position}"


class TooLongForWriteUTF(ArgumentError):
    """A string whose modified UTF-8 is longer than writeUTF's 65,535 bytes; `length` is that many bytes."""

    def __init__(self, message: str, *, length: int, java_message: str):
        super().__init__(message)
        self.length, self.java_message = length, java_message


class ShortFrame(IncompleteMessage):
    """Fewer bytes than a writeUTF frame needs: `partial` holds them, `expected` is the frame's full size.

    An IncompleteMessage (so a peer that closed mid-string is the peer's fault), with
    words for the pure case: the bytes may simply not all be here yet.
    """

    def __init__(self, partial: bytes, expected: int, what: str):
        super().__init__(partial, expected, what)
        self.args = (f"Only {len(partial)} of the {expected} bytes of {what} are here; a writeUTF frame is "
                     f"complete only when all of them are, so read {expected - len(partial)} more "
                     f"(recv_exactly does) and call unframe() again.",)


# -- encoding ----------------------------------------------------------------------------------
def _units(text: str) -> list[int]:
    """The UTF-16 code units of `text`, as Java holds the same string (a lone surrogate is its own unit)."""
    raw = text.encode("utf-16-be", "surrogatepass")
    return [int.from_bytes(raw[i:i + 2], "big") for i in range(0, len(raw), 2)]


def _encode_unit(unit: int) -> bytes:
    # The three rows of the table in DataInput's "Modified UTF-8" section, in its order.
    if 0x0001 <= unit <= 0x007F:
        return bytes([unit])
    if unit <= 0x07FF:  # U+0000 lands here on purpose: C0 80
        return bytes([0xC0 | unit >> 6, 0x80 | unit & 0x3F])
    return bytes([0xE0 | unit >> 12, 0x80 | unit >> 6 & 0x3F, 0x80 | unit & 0x3F])


def _check_text(text, what: str) -> str:
    if not isinstance(text, str):
        raise ArgumentTypeError(f"{what} takes a str, but got {text!r:.60} (type {type(text).__name__}); "
                                f"bytes from a socket go to decode() or unframe(), a number becomes text "
                                f"with str() first.")
    return text


def encode(text: str) -> bytes:
    """The modified UTF-8 bytes of `text`, without the length: what writeUTF writes after its 2 bytes.

    Any length is encoded (frame() applies writeUTF's limit); lone surrogates become 3 bytes each, as in Java.
    """
    _check_text(text, "encode()")
    return b"".join(_encode_unit(unit) for unit in _units(text))


def frame(text: str) -> bytes:
    """Exactly what Java's writeUTF(text) sends: a 2-byte big-endian length, then encode(text).

    A text longer than 65,535 encoded bytes raises TooLongForWriteUTF, as writeUTF raises
    UTFDataFormatException.
    """
    body = encode(_check_text(text, "frame()"))
    if len(body) > MAX_BYTES:
        units = text.encode("utf-16-be", "surrogatepass")
        # Java's own words name the first and last 8 code units of the string (JDK 17 source).
        head = units[:16].decode("utf-16-be", "surrogatepass")
        tail = units[-16:].decode("utf-16-be", "surrogatepass")
        java = f"encoded string ({head}...{tail}) too long: {len(body)} bytes"
        shown = text if len(text) <= 20 else f"{text[:8]}…{text[-8:]}"
        raise TooLongForWriteUTF(
            f"The text {shown!r} ({len(text):,} characters) is {len(body):,} bytes in modified UTF-8, more "
            f"than the {MAX_BYTES:,} bytes writeUTF's 2-byte length can count (Java refuses it with "
            f"UTFDataFormatException: {java}); split it, or send the length as an int and the bytes yourself.",
            length=len(body), java_message=java)
    return len(body).to_bytes(LENGTH_BYTES, "big") + body


# -- decoding ----------------------------------------------------------------------------------
def _check_bytes(data, what: str) -> bytes:
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise ArgumentTypeError(f"{what} takes bytes, but got {data!r:.60} (type {type(data).__name__}); "
                                f"pass what recv() returned, and use encode() or frame() to turn a str "
                                f"into bytes.")
    return bytes(data)


def _refuse(body: bytes, start: int, size: int, java_position: int | None, problem: str, hint: str):
    group = spaced_hex(body[start:start + size])
    these, them = ("This byte is", "it") if len(body) == 1 else (f"These {len(body):,} bytes are", "them")
    raise ModifiedUtf8Error(
        f"{these} not modified UTF-8: the group at byte {start} ({group}) {problem}, and Java's readUTF "
        f"refuses {them} with UTFDataFormatException: {_java_message(java_position)}; {hint}.",
        body=body, start=start, java_position=java_position)


def decode(body: bytes) -> str:
    """The text of a modified UTF-8 body (the bytes after the length), strictly as readUTF reads it.

    Raises ModifiedUtf8Error where readUTF raises UTFDataFormatException, naming the same
    byte as Java does; accepts what readUTF accepts (see the module's docstring).
    """
    body = _check_bytes(body, "decode()")
    units, count, end = [], 0, len(body)
    # The rules of DataInput.readUTF (Java SE 17 API), group by group; the byte numbers in the
    # messages follow DataInputStream's own counting, so they match Java's word for word.
    while count < end:
        lead = body[count]
        kind = lead >> 4
        if kind <= 0b0111:    # 0xxxxxxx: one byte, 0x00 included
            units.append(lead)
            count += 1
        elif kind in (0b1100, 0b1101):   # 110xxxxx 10xxxxxx
            if count + 2 > end:
                _refuse(body, count, 2, None, f"needs 2 bytes but the string ends after {end - count}",
                        "the length in front may be too small, or the string was cut short")
            if body[count + 1] & 0xC0 != 0x80:
                _refuse(body, count, 2, count + 2, f"should go on with a byte 10xxxxxx, not 0x{body[count + 1]:02X}",
                        "the bytes may be in another encoding (Latin-1, say) rather than UTF-8")
            units.append((lead & 0x1F) << 6 | body[count + 1] & 0x3F)
            count += 2
        elif kind == 0b1110:   # 1110xxxx 10xxxxxx 10xxxxxx
            if count + 3 > end:
                _refuse(body, count, 3, None, f"needs 3 bytes but the string ends after {end - count}",
                        "the length in front may be too small, or the string was cut short")
            if body[count + 1] & 0xC0 != 0x80 or body[count + 2] & 0xC0 != 0x80:
                _refuse(body, count, 3, count + 2, "should go on with two bytes 10xxxxxx",
                        "the bytes may be in another encoding (Latin-1, say) rather than UTF-8")
            units.append((lead & 0x0F) << 12 | (body[count + 1] & 0x3F) << 6 | body[count + 2] & 0x3F)
            count += 3
        elif 0xF0 <= lead <= 0xF7:   # 11110xxx: the first byte of a 4-byte UTF-8 sequence
            _refuse(body, count, 4, count, f"starts with 0x{lead:02X}, the first byte of a 4-byte UTF-8 "
                    f"sequence, which modified UTF-8 never uses",
                    "these look like str.encode('utf-8') bytes; Java wants each character beyond U+FFFF as "
                    "two 3-byte surrogates, which javautf.encode() writes")
        elif kind == 0b1111:   # 11111xxx: no UTF-8 of any kind has these
            _refuse(body, count, 1, count, f"starts with 0x{lead:02X}, a byte that no kind of UTF-8 uses",
                    "the bytes may not be text at all; check where the string starts")
        else:                  # 10xxxxxx: a continuation byte with no first byte before it
            _refuse(body, count, 1, count, f"starts with 0x{lead:02X}, a continuation byte (10xxxxxx) that "
                    f"belongs to no character", "check that the 2-byte length was read and skipped first")
    # UTF-16BE with surrogatepass joins a high and a low surrogate into one character and keeps a lone one.
    return b"".join(unit.to_bytes(2, "big") for unit in units).decode("utf-16-be", "surrogatepass")


def unframe(data: bytes) -> tuple[str, bytes]:
    """Read one writeUTF frame from the front of `data`: (its text, the bytes after it).

    Too few bytes for the length, or for the body it announces, raise ShortFrame (an IncompleteMessage).
    """
    data = _check_bytes(data, "unframe()")
    if len(data) < LENGTH_BYTES:
        raise ShortFrame(data, LENGTH_BYTES, "the 2-byte length of a writeUTF frame")
    size = LENGTH_BYTES + int.from_bytes(data[:LENGTH_BYTES], "big")
    if len(data) < size:
        raise ShortFrame(data, size, f"a writeUTF frame (the 2-byte length, then {size - LENGTH_BYTES} bytes)")
    return decode(data[LENGTH_BYTES:size]), data[size:]


# -- the layout, for the picture and the notebook's table ------------------------------------------
@dataclass(frozen=True)
class Piece:
    """One character of a text, and its bytes in plain UTF-8 and in Java's modified UTF-8.

    `utf8` is None for a lone surrogate, which plain UTF-8 cannot encode at all; `why` says
    why the two differ ("" where they agree).
    """

    char: str
    code_point: int
    name: str
    utf16: tuple
    utf8: bytes | None
    modified: bytes
    why: str

    @property
    def differs(self) -> bool:
        return self.utf8 != self.modified

    @property
    def utf8_hex(self) -> str:
        return "(none)" if self.utf8 is None else spaced_hex(self.utf8)

    @property
    def modified_hex(self) -> str:
        return spaced_hex(self.modified)

    @property
    def label(self) -> str:
        """A short name for the picture: "NUL", "U+1F600", or the character itself."""
        if self.code_point == 0:
            return "NUL"
        if self.code_point < 0x20 or 0xD800 <= self.code_point <= 0xDFFF or self.code_point > 0xFFFF:
            return f"U+{self.code_point:04X}"
        return self.char


def spaced_hex(data: bytes) -> str:
    """Bytes as upper-case hex pairs with spaces, as the docs print them: b"\\xc0\\x80" -> "C0 80"."""
    return " ".join(f"{byte:02X}" for byte in data)


def _why(code_point: int) -> str:
    if code_point == 0:
        return ("U+0000 is written as the 2-byte form C0 80, so a modified UTF-8 string never holds a 0x00 "
                "byte")
    if 0xD800 <= code_point <= 0xDFFF:
        return ("a lone surrogate is no character, so plain UTF-8 cannot encode it; Java writes the code unit "
                "as 3 bytes all the same")
    if code_point > 0xFFFF:
        return ("beyond U+FFFF: Java holds two UTF-16 surrogates and writes each as 3 bytes (6 in all) where "
                "UTF-8 writes one 4-byte sequence")
    return ""


def _name(code_point: int, char: str) -> str:
    if 0xD800 <= code_point <= 0xDBFF:
        return "lone high surrogate"
    if 0xDC00 <= code_point <= 0xDFFF:
        return "lone low surrogate"
    return unicodedata.name(char, "") or ("NULL" if code_point == 0 else f"U+{code_point:04X}")


def layout(text: str) -> list[Piece]:
    """One Piece per character of `text`: code point, UTF-16 units, UTF-8 bytes, modified bytes, why they differ."""
    _check_text(text, "layout()")
    pieces = []
    for char in text:
        point = ord(char)
        units = tuple(_units(char))
        try:
            plain = char.encode("utf-8")
        except UnicodeEncodeError:  # a lone surrogate
            plain = None
        pieces.append(Piece(char, point, _name(point, char), units, plain,
                            b"".join(map(_encode_unit, units)), _why(point)))
    return pieces
