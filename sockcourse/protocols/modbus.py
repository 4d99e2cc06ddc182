"""Modbus/TCP frames as tables of fields, and the few functions that build and read them with `struct`.

A Modbus/TCP message (an ADU, application data unit) is a 7-byte MBAP header
followed by a PDU (protocol data unit): one byte of function code, then the
function's data (Modbus Messaging on TCP/IP Implementation Guide 1.0b,
3.1.2 and 3.1.3). Every number is big-endian (Modbus Application Protocol
1.1b3, 4.2). The MBAP header is:

    transaction  2 bytes  chosen by the client, copied by the server into its response
    protocol     2 bytes  always 0 for Modbus
    length       2 bytes  how many bytes follow: the unit identifier and the PDU
    unit         1 byte   which device behind a gateway; copied into the response

TCP delivers a stream, not messages, and the length field is how a reader
finds where one frame ends and the next begins, "even if the message has
been split into multiple packets" (Implementation Guide, 3.1.2):
`FrameReader` does exactly that.

The layouts live in the tables below (`MBAP_FIELDS`, `REQUESTS`,
`RESPONSES`, `EXCEPTION_FIELDS`), one row per field: name, offset, size,
struct code and meaning. The builders, the parsers and the picture
(`sockcourse.viz.modbus.frame_layout`) all read these same tables; the
struct formats are made from them, so the layout is written down once.

Three functions are covered, with the spec's own limits:
- 0x01 read coils: 1 to 2000 coils (Application Protocol, 6.1);
- 0x03 read holding registers: 1 to 125 registers (6.3);
- 0x06 write single register: one value from 0 to 65535 (6.6).
A server that cannot do what was asked answers with an exception response:
the function code plus 0x80, and one byte of exception code (section 7).

Pure functions of bytes and numbers: no socket, no thread, no clock. A frame
that breaks the protocol is the peer's doing (`PeerFault`); a bad argument
is the caller's (`ArgumentError`).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import NamedTuple

from ..core.checks import check_whole
from ..core.errors import ArgumentError, ArgumentTypeError, CourseBugError, PeerFault

__all__ = [
    "EXCEPTIONS", "EXCEPTION_FIELDS", "EXCEPTION_FLAG", "FUNCTIONS", "Field", "FrameReader", "LIMITS",
    "MAX_ADU", "MAX_LENGTH", "MAX_PDU", "MBAP_FIELDS", "MBAP_SIZE", "MIN_LENGTH", "PDU_FIELDS", "Part", "REQUESTS",
    "RESPONSES", "Request", "Response", "SECTIONS", "adu", "decode", "exception_text", "guess_kind", "layout_of",
    "parse_request", "parse_response", "read_coils", "read_holding_registers", "request", "response",
    "write_single_register",
]

APP = "Modbus Application Protocol 1.1b3"
GUIDE = "Modbus Messaging on TCP/IP Implementation Guide 1.0b"


class Field(NamedTuple):
    """One field of a frame: where it sits in its part (the MBAP header or the PDU), how big, what it means.

    `size` is in bytes; None marks the variable part of a response, which
    holds as many bytes as the byte count before it says. `code` is the
    struct code of one item: "B" one byte, "H" a 16-bit big-endian word.
    """

    name: str
    offset: int
    size: int | None
    code: str
    meaning: str


#: The MBAP header (Implementation Guide 1.0b, 3.1.3).
MBAP_FIELDS = (
    Field("transaction", 0, 2, "H", "transaction identifier: the client picks it, the server copies it back"),
    Field("protocol", 2, 2, "H", "protocol identifier: always 0 for Modbus"),
    Field("length", 4, 2, "H", "how many bytes follow: the unit identifier and the PDU"),
    Field("unit", 6, 1, "B", "unit identifier: the device behind a gateway; the server copies it back"),
)

#: Any PDU, before its function is known (Application Protocol 1.1b3, 4.1).
PDU_FIELDS = (
    Field("function", 0, 1, "B", "function code: what the server is asked to do"),
    Field("data", 1, None, "B", "the function's data; its layout depends on the function"),
)

#: The functions covered here, by code, in the spec's words.
FUNCTIONS = {0x01: "read coils", 0x03: "read holding registers", 0x06: "write single register"}

#: Where each function is specified in the Application Protocol 1.1b3.
SECTIONS = {0x01: "6.1", 0x03: "6.3", 0x06: "6.6"}

#: How many items one request may ask for (Application Protocol 1.1b3, 6.1 and 6.3).
LIMITS = {0x01: 2000, 0x03: 125}


def _function_field(code: int) -> Field:
    return Field("function", 0, 1, "B", f"function code 0x{code:02X}: {FUNCTIONS[code]}")


#: Request PDUs by function (Application Protocol 1.1b3, 6.1, 6.3, 6.6).
REQUESTS = {
    0x01: (_function_field(0x01),
           Field("start", 1, 2, "H", "starting address: the first coil, counted from 0"),
           Field("count", 3, 2, "H", "quantity of coils: 1 to 2000")),
    0x03: (_function_field(0x03),
           Field("start", 1, 2, "H", "starting address: the first register, counted from 0"),
           Field("count", 3, 2, "H", "quantity of registers: 1 to 125")),
    0x06: (_function_field(0x06),
           Field("address", 1, 2, "H", "register address, counted from 0"),
           Field("value", 3, 2, "H", "the value to write, 0 to 65535")),
}

#: Normal response PDUs by function (same sections).
RESPONSES = {
    0x01: (_function_field(0x01),
           Field("byte_count", 1, 1, "B", "bytes of coil status that follow: the count / 8, rounded up"),
           Field("coils", 2, None, "B", "coil status, 8 coils a byte, the first coil in the lowest bit")),
    0x03: (_function_field(0x03),
           Field("byte_count", 1, 1, "B", "bytes of register values that follow: 2 per register"),
           Field("registers", 2, None, "H", "register values, 2 bytes each, high byte first")),
    0x06: (_function_field(0x06),
           Field("address", 1, 2, "H", "register address, echoed from the request"),
           Field("value", 3, 2, "H", "the value now in the register, echoed")),
}

#: The exception response PDU of any function (Application Protocol 1.1b3, section 7).
EXCEPTION_FIELDS = (
    Field("function", 0, 1, "B", "the request's function code + 0x80: this is an exception response"),
    Field("exception", 1, 1, "B", "exception code: why the server refused"),
)

#: The bit an exception response sets in the function code (section 7).
EXCEPTION_FLAG = 0x80

#: Exception codes and their names (Application Protocol 1.1b3, section 7).
EXCEPTIONS = {
    1: "illegal function", 2: "illegal data address", 3: "illegal data value", 4: "server device failure",
    5: "acknowledge", 6: "server device busy", 8: "memory parity error", 10: "gateway path unavailable",
    11: "gateway target device failed to respond",
}

#: A PDU is at most 253 bytes, inherited from the 256-byte serial line ADU, so a
#: Modbus/TCP ADU is at most 253 + 7 = 260 bytes (Application Protocol 1.1b3, 4.1).
MAX_PDU = 253


def _check_table(fields: tuple) -> struct.Struct:
    """The struct of a table's fixed fields, after checking that the table adds up.

    Run on every table at import, so a slip in an offset or a size fails
    here, once, instead of building frames that are subtly wrong.
    """
    at = 0
    for number, field in enumerate(fields):
        if field.offset != at:
            raise CourseBugError(f"The Modbus field {field.name!r} sits at offset {field.offset}, but the fields "
                                 f"before it end at {at}; the table in sockcourse.protocols.modbus is wrong.")
        if field.size is None:
            if number != len(fields) - 1:
                raise CourseBugError(f"The variable Modbus field {field.name!r} is not the last; fix the table.")
            break
        if struct.calcsize(">" + field.code) != field.size:
            raise CourseBugError(f"The Modbus field {field.name!r} has size {field.size}, but struct code "
                                 f"{field.code!r} packs {struct.calcsize('>' + field.code)}; fix the table.")
        at += field.size
    return struct.Struct(">" + "".join(field.code for field in fields if field.size is not None))


_STRUCTS = {id(table): _check_table(table)
            for table in (MBAP_FIELDS, PDU_FIELDS, EXCEPTION_FIELDS, *REQUESTS.values(), *RESPONSES.values())}
_MBAP = _STRUCTS[id(MBAP_FIELDS)]

_HEADER = {field.name: field for field in MBAP_FIELDS}

#: Bytes of the MBAP header.
MBAP_SIZE = _MBAP.size
#: The smallest length field: a unit identifier and a function code.
MIN_LENGTH = _HEADER["unit"].size + PDU_FIELDS[0].size
#: The largest length field: a unit identifier and the largest PDU.
MAX_LENGTH = _HEADER["unit"].size + MAX_PDU
#: The largest Modbus/TCP ADU, in bytes.
MAX_ADU = MBAP_SIZE + MAX_PDU
#: Where the length field ends: a reader knows the frame's size from here on.
_LENGTH_END = _HEADER["length"].offset + _HEADER["length"].size


def _fixed_size(layout: tuple) -> int:
    """Bytes of a PDU table's fixed fields: the whole PDU, or what comes before its variable part."""
    return _STRUCTS[id(layout)].size


def _header_field(buffer, name: str) -> int | None:
    """One MBAP field read from the start of a buffer, or None if its bytes are not all in yet."""
    field = _HEADER[name]
    end = field.offset + field.size
    return int.from_bytes(buffer[field.offset:end], "big") if len(buffer) >= end else None


def layout_of(function: int | None = None, kind: str = "request") -> tuple:
    """The PDU table of `function` as a "request", "response" or "exception"; PDU_FIELDS for an unknown one."""
    if kind == "exception":
        return EXCEPTION_FIELDS
    tables = {"request": REQUESTS, "response": RESPONSES}
    if kind not in tables:
        raise ArgumentError(f"The kind must be 'request', 'response' or 'exception', but got {kind!r}; "
                            f"for example kind='response'.")
    return tables[kind].get(function, PDU_FIELDS)


# -- checks ---------------------------------------------------------------------------
def _frame_bytes(frame, what: str = "frame", example: str = "read_holding_registers(1, 1, 0, 3) gives") -> bytes:
    if not isinstance(frame, (bytes, bytearray, memoryview)):
        raise ArgumentTypeError(f"The {what} must be bytes, such as {example}, but got {frame!r:.60} "
                                f"(type {type(frame).__name__}).")
    return bytes(frame)


def _check_function(function) -> int:
    known = ", ".join(f"0x{code:02X} ({name})" for code, name in FUNCTIONS.items())
    if isinstance(function, bool) or not isinstance(function, int) or function not in FUNCTIONS:
        raise ArgumentError(f"The function must be one of {known}, but got {function!r}; for any other "
                            f"function code build the PDU yourself and wrap it with adu().")
    return function


def _check_quantity(function: int, count, given: str = "count={count}") -> int:
    name, limit, section = FUNCTIONS[function], LIMITS[function], SECTIONS[function]
    items = "coils" if function == 0x01 else "registers"
    count = check_whole(count, "count", low=1, example=min(10, limit))
    if count > limit:
        raise ArgumentError(f"One {name} request asks for at most {limit:,} {items}, the spec's limit ({APP}, "
                            f"{section}), but got {given.format(count=count)}; ask for the rest in a second request.")
    return count


def _check_word(value, what: str) -> int:
    return check_whole(value, what, low=0, high=0xFFFF,
                       hint=f"a Modbus {what} is 16 bits, 0 to 65535 (a negative number n is sent as n & 0xFFFF)")


def _check_fields(function: int, kind: str, given: dict) -> dict:
    """The fields of one request or response, by the table's names, each checked."""
    layout = (REQUESTS if kind == "request" else RESPONSES)[function]
    wanted = [field.name for field in layout if field.name not in ("function", "byte_count")]
    if set(given) != set(wanted):
        spelled = " and ".join(f"{name}=" for name in wanted)
        got = ", ".join(f"{name}=" for name in given) or "none"
        raise ArgumentError(f"A {FUNCTIONS[function]} {kind} takes {spelled}, but got {got}; for example "
                            f"{_EXAMPLES[(function, kind)]}.")
    checked = {}
    for name, value in given.items():
        if name == "count":
            checked[name] = _check_quantity(function, value)
        elif name == "coils":
            checked[name] = _check_items(function, value, "coils", bool)
        elif name == "registers":
            checked[name] = _check_items(function, value, "registers", int)
        else:
            checked[name] = _check_word(value, name)
    return checked


_EXAMPLES = {
    (0x01, "request"): "read_coils(1, 1, start=0, count=3)",
    (0x03, "request"): "read_holding_registers(1, 1, start=0, count=3)",
    (0x06, "request"): "write_single_register(1, 1, address=2, value=150)",
    (0x01, "response"): "response(0x01, 1, 1, coils=[True, False, True])",
    (0x03, "response"): "response(0x03, 1, 1, registers=[120, 215, 150])",
    (0x06, "response"): "response(0x06, 1, 1, address=2, value=150)",
}


_LIST_EXAMPLES = {"coils": "coils=[True, False, True]", "registers": "registers=[120, 215, 150]"}


def _check_items(function: int, values, what: str, kind: type) -> tuple:
    try:
        if isinstance(values, (str, bytes)):
            raise TypeError("iterable, but surely not what was meant")
        items = tuple(values)
    except TypeError:
        raise ArgumentTypeError(f"The {what} must be a list, but got {values!r:.60} (type {type(values).__name__}); "
                                f"for example {_LIST_EXAMPLES[what]}.") from None
    if not items:
        raise ArgumentError(f"A {FUNCTIONS[function]} response carries 1 or more {what}, but the list is empty; "
                            f"for example {_LIST_EXAMPLES[what]}.")
    _check_quantity(function, len(items), given=f"{{count:,}} {what}")
    if kind is bool:
        for item in items:
            if item not in (True, False, 0, 1):  # 0 and 1 compare equal to False and True
                raise ArgumentError(f"Each coil is on or off (True or False), but got {item!r}; "
                                    f"for example coils=[True, False, True].")
        return tuple(bool(item) for item in items)
    return tuple(_check_word(item, "register value") for item in items)


# -- building ---------------------------------------------------------------------------
def adu(transaction: int, unit: int, pdu: bytes) -> bytes:
    """Put the MBAP header in front of a PDU: the whole Modbus/TCP frame, ready for sendall().

    The length field counts the unit identifier and the PDU (Implementation
    Guide 1.0b, 3.1.3). Any PDU of 1 to 253 bytes is taken, so a frame the
    functions here do not cover (another function code) can be built too.
    """
    transaction = check_whole(transaction, "transaction", low=0, high=0xFFFF, example=1)
    unit = check_whole(unit, "unit", low=0, high=0xFF, example=1)
    pdu = _frame_bytes(pdu, "PDU")
    if not 1 <= len(pdu) <= MAX_PDU:
        raise ArgumentError(f"A PDU holds 1 to {MAX_PDU} bytes ({APP}, 4.1), but this one has {len(pdu)}; "
                            f"it starts with the function code, for example bytes([0x03, 0, 0, 0, 3]).")
    header = {"transaction": transaction, "protocol": 0, "length": _HEADER["unit"].size + len(pdu), "unit": unit}
    return _MBAP.pack(*(header[field.name] for field in MBAP_FIELDS)) + pdu


def _pack(layout: tuple, values: dict) -> bytes:
    fixed = _STRUCTS[id(layout)].pack(*(values[field.name] for field in layout if field.size is not None))
    variable = layout[-1]
    if variable.size is not None:
        return fixed
    return fixed + _pack_items(variable, values[variable.name])


def _pack_items(field: Field, items: tuple) -> bytes:
    if field.name == "coils":
        # The first coil is the lowest bit of the first byte; unused high bits are 0 (6.1).
        data = bytearray((len(items) + 7) // 8)
        for number, on in enumerate(items):
            if on:
                data[number // 8] |= 1 << (number % 8)
        return bytes(data)
    return struct.pack(f">{len(items)}{field.code}", *items)


def _byte_count(function: int, items) -> int:
    """The byte count of a response carrying `items`: 8 coils a byte, or each register's struct size."""
    if function == 0x01:
        return (len(items) + 7) // 8
    return struct.calcsize(">" + RESPONSES[function][-1].code) * len(items)


def request(function: int, transaction: int, unit: int, **fields) -> bytes:
    """Build a request frame (MBAP header and PDU) of one of FUNCTIONS from its named fields.

    The fields are the request table's names: `start` and `count` for 0x01
    and 0x03, `address` and `value` for 0x06. The spec's limits are checked.
    """
    function = _check_function(function)
    values = _check_fields(function, "request", fields)
    return adu(transaction, unit, _pack(REQUESTS[function], {"function": function, **values}))


def read_coils(transaction: int, unit: int, start: int, count: int) -> bytes:
    """A read coils request (0x01): `count` coils (1 to 2000) from address `start` (Application Protocol 1.1b3, 6.1)."""
    return request(0x01, transaction, unit, start=start, count=count)


def read_holding_registers(transaction: int, unit: int, start: int, count: int) -> bytes:
    """A read holding registers request (0x03): `count` registers (1 to 125) from `start` (6.3)."""
    return request(0x03, transaction, unit, start=start, count=count)


def write_single_register(transaction: int, unit: int, address: int, value: int) -> bytes:
    """A write single register request (0x06): put `value` (0 to 65535) into register `address` (6.6)."""
    return request(0x06, transaction, unit, address=address, value=value)


def response(function: int, transaction: int, unit: int, *, exception: int | None = None, **fields) -> bytes:
    """Build a response frame, as a server would send it: normal, or an exception with `exception=`.

    Normal: `coils=[...]` for 0x01, `registers=[...]` for 0x03, `address=`
    and `value=` for 0x06 (the byte count is worked out). Exception: any
    function code from 1 to 127 and the exception code, for example
    response(0x03, 1, 1, exception=2) for "illegal data address".
    """
    if exception is not None:
        if fields:
            raise ArgumentError(f"An exception response carries only its exception code, but got "
                                f"{', '.join(f'{name}=' for name in fields)} too; leave them out.")
        function = check_whole(function, "function", low=1, high=0x7F, example=3)
        code = check_whole(exception, "exception", low=1, high=0xFF, example=2)
        return adu(transaction, unit, _STRUCTS[id(EXCEPTION_FIELDS)].pack(function | EXCEPTION_FLAG, code))
    function = _check_function(function)
    values = _check_fields(function, "response", fields)
    layout = RESPONSES[function]
    if layout[-1].size is None:
        values["byte_count"] = _byte_count(function, values[layout[-1].name])
    return adu(transaction, unit, _pack(layout, {"function": function, **values}))


# -- reading ----------------------------------------------------------------------------
class Part(NamedTuple):
    """One field of a real frame: the table's row, where it starts in the frame, its bytes and its value."""

    where: str        # "MBAP" or "PDU"
    field: Field
    start: int        # offset in the whole frame
    raw: bytes
    value: object     # an int; a tuple for the variable part (registers, or coils as bools)


def _split(layout: tuple, pdu: bytes, base: int) -> list[Part]:
    """Cut a PDU along a table, as far as its bytes go (the variable part takes the rest)."""
    parts = []
    for field in layout:
        begin = field.offset
        if begin > len(pdu) or (begin == len(pdu) and field.size is not None):
            break
        raw = pdu[begin:] if field.size is None else pdu[begin:begin + field.size]
        if field.size is not None and len(raw) < field.size:
            parts.append(Part("PDU", field, base + begin, raw, None))  # cut short: no value
            break
        parts.append(Part("PDU", field, base + begin, raw, _value(field, raw)))
    return parts


def _value(field: Field, raw: bytes):
    if field.size is not None:
        return struct.unpack(">" + field.code, raw)[0]
    if field.name == "coils":
        return tuple(bool(byte >> bit & 1) for byte in raw for bit in range(8))
    if field.name == "registers":
        return struct.unpack(f">{len(raw) // 2}H", raw[: len(raw) // 2 * 2])
    return tuple(raw)


def guess_kind(pdu: bytes) -> str:
    """Request or response, from the bytes alone (ambiguous only for a 5-byte read coils PDU: pass kind=)."""
    if not pdu:
        return "request"
    function = pdu[0]
    if function & EXCEPTION_FLAG:
        return "exception"
    if function in (0x01, 0x03):
        fixed, request_size = _fixed_size(RESPONSES[function]), _fixed_size(REQUESTS[function])
        if len(pdu) >= fixed and len(pdu) == fixed + pdu[fixed - 1] and len(pdu) != request_size:
            return "response"
    return "request"


def decode(frame, kind: str | None = None) -> list[Part]:
    """Every field of a frame, MBAP header first, as the tables say, with its bytes and value.

    kind: "request", "response" or "exception"; None guesses from the bytes
    (a 5-byte read coils PDU is read as a request unless kind="response").
    Lenient, for pictures and tables: it cuts what is there and checks
    nothing; use parse_response() to check a frame.
    """
    frame = _frame_bytes(frame)
    if len(frame) < MBAP_SIZE:
        raise ArgumentError(f"A Modbus/TCP frame starts with a {MBAP_SIZE}-byte MBAP header, but this one has "
                            f"only {len(frame)} bytes; pass a whole frame, for example from FrameReader.feed().")
    parts = [Part("MBAP", field, field.offset, frame[field.offset:field.offset + field.size],
                  _value(field, frame[field.offset:field.offset + field.size])) for field in MBAP_FIELDS]
    pdu = frame[MBAP_SIZE:]
    kind = kind or guess_kind(pdu)
    function = pdu[0] if pdu else None
    return parts + _split(layout_of(function, kind), pdu, MBAP_SIZE)


def _header(frame: bytes) -> tuple[int, int, int, int]:
    """The MBAP fields of a whole frame, after checking them: (transaction, protocol, length, unit)."""
    if len(frame) < MBAP_SIZE + 1:
        raise PeerFault(f"A Modbus/TCP frame has at least {MBAP_SIZE + 1} bytes (the MBAP header and a function "
                        f"code), but this one has {len(frame)}: {frame.hex(' ')}.")
    transaction, protocol, length, unit = _MBAP.unpack_from(frame)
    _check_mbap(protocol, length)
    if length != len(frame) - _LENGTH_END:
        raise PeerFault(f"The frame's length field says {length} bytes follow it, but {len(frame) - _LENGTH_END} "
                        f"do; a frame cut from a stream must end where its length field says "
                        f"({GUIDE}, 3.1.3): FrameReader cuts them so.")
    return transaction, protocol, length, unit


def _check_mbap(protocol: int, length: int | None) -> None:
    if protocol != 0:
        raise PeerFault(f"The MBAP header carries protocol identifier {protocol}, where Modbus/TCP always has 0 "
                        f"({GUIDE}, 3.1.3); these bytes are not a Modbus/TCP stream, or the stream lost its "
                        f"place, so the connection should be closed.")
    if length is not None and not MIN_LENGTH <= length <= MAX_LENGTH:
        raise PeerFault(f"The MBAP length field says {length} bytes follow, but a Modbus/TCP frame has {MIN_LENGTH} "
                        f"to {MAX_LENGTH} there (a unit identifier and a PDU of at most {MAX_PDU} bytes, {APP}, "
                        f"4.1); the stream cannot be read on, so the connection should be closed.")


@dataclass(frozen=True)
class Request:
    """A request frame, read back: whom it asks (transaction, unit) and what (function and its fields)."""

    transaction: int
    unit: int
    function: int
    fields: dict  # the PDU's fields by the table's names, e.g. {"start": 0, "count": 3}


def parse_request(frame) -> Request:
    """Read a request frame of one of FUNCTIONS back into its fields; PeerFault if it is malformed.

    What a server does with the bytes a client sent; here it also lets
    parse_response() check a response against the request it answers.
    """
    frame = _frame_bytes(frame, "request")
    transaction, _, _, unit = _header(frame)
    pdu = frame[MBAP_SIZE:]
    function = pdu[0]
    if function not in FUNCTIONS:
        raise PeerFault(f"The request asks for function 0x{function:02X}, which is none of "
                        f"{', '.join(f'0x{code:02X}' for code in FUNCTIONS)} (the ones read here).")
    layout = REQUESTS[function]
    size = _STRUCTS[id(layout)].size
    if len(pdu) != size:
        raise PeerFault(f"A {FUNCTIONS[function]} request PDU has {size} bytes ({APP}, {SECTIONS[function]}), "
                        f"but this one has {len(pdu)}: {pdu.hex(' ')}.")
    fields = {part.field.name: part.value for part in _split(layout, pdu, MBAP_SIZE) if part.field.name != "function"}
    return Request(transaction, unit, function, fields)


@dataclass(frozen=True)
class Response:
    """A response frame, read and checked.

    function: the function answered (for an exception response, the code on
        the wire less 0x80; `fields["function"]` keeps the byte as sent).
    values: the registers (ints) or coils (bools) read, or (value,) for a
        write; () for an exception response.
    exception, exception_text: the exception code and its name in the spec
        (section 7), or None for a normal response.
    fields: every PDU field by the table's names, as decoded.
    """

    transaction: int
    unit: int
    function: int
    values: tuple
    exception: int | None
    exception_text: str | None
    fields: dict

    @property
    def ok(self) -> bool:
        """True for a normal response, False for an exception response."""
        return self.exception is None


def exception_text(code: int) -> str:
    """The spec's name for an exception code (section 7), or a sentence saying it has none."""
    return EXCEPTIONS.get(code, f"exception code {code}, which the spec does not define")


def parse_response(frame, request=None) -> Response:
    """Read one response frame, check it, and decode exception responses to words.

    frame: one whole frame (FrameReader.feed() gives them).
    request: the request frame it answers, if you have it: then the
        transaction, the unit and the function must match it, and the byte
        count must fit the quantity asked for (the coils are cut to that
        many: the last byte is padded with 0 bits).
    A frame that breaks the spec, or does not answer the request, is the
    peer's doing: PeerFault, with a sentence saying what is wrong.
    """
    frame = _frame_bytes(frame)
    asked = None
    if request is not None:
        try:
            asked = parse_request(request)
        except PeerFault as problem:
            raise ArgumentError(f"The request= must be the request frame this response answers, but: {problem}") \
                from None
    transaction, _, _, unit = _header(frame)
    pdu = frame[MBAP_SIZE:]
    code = pdu[0]
    if asked is not None:
        _check_pairing(asked, transaction, unit, code)
    if code & EXCEPTION_FLAG:
        if len(pdu) != _fixed_size(EXCEPTION_FIELDS):
            raise PeerFault(f"An exception response PDU has {_fixed_size(EXCEPTION_FIELDS)} bytes (the function code "
                            f"+ 0x80 and an exception code, {APP}, section 7), but this one has {len(pdu)}: "
                            f"{pdu.hex(' ')}.")
        function, exception = _STRUCTS[id(EXCEPTION_FIELDS)].unpack(pdu)
        return Response(transaction, unit, function & ~EXCEPTION_FLAG, (), exception, exception_text(exception),
                        {"function": function, "exception": exception})
    if code not in FUNCTIONS:
        raise PeerFault(f"The response carries function code 0x{code:02X}, which is none of "
                        f"{', '.join(f'0x{known:02X}' for known in FUNCTIONS)} and has no exception bit (0x80) set.")
    layout = RESPONSES[code]
    parts = {part.field.name: part for part in _split(layout, pdu, MBAP_SIZE)}
    fields = {name: part.value for name, part in parts.items()}
    where = f"({APP}, {SECTIONS[code]})"
    if code == 0x06:
        if len(pdu) != _fixed_size(layout):
            raise PeerFault(f"A write single register response PDU has {_fixed_size(layout)} bytes, an echo of the "
                            f"request {where}, "
                            f"but this one has {len(pdu)}: {pdu.hex(' ')}.")
        if asked is not None and (fields["address"], fields["value"]) != (asked.fields["address"],
                                                                       asked.fields["value"]):
            raise PeerFault(f"A write single register response echoes the request {where}, but it says register "
                            f"{fields['address']} = {fields['value']} where the request wrote register "
                            f"{asked.fields['address']} = {asked.fields['value']}.")
        return Response(transaction, unit, code, (fields["value"],), None, None, fields)
    count = fields.get("byte_count")
    if count == 0:
        raise PeerFault(f"A {FUNCTIONS[code]} response carries at least one byte of data {where}, but its byte "
                        f"count is 0.")
    fixed = _fixed_size(layout)
    if count is None or len(pdu) != fixed + count:
        raise PeerFault(f"The response's byte count says {count} bytes of data follow, but "
                        f"{max(len(pdu) - fixed, 0)} do {where}: {pdu.hex(' ')}.")
    item = _byte_count(code, range(1)) if code == 0x03 else 1
    if count % item:
        raise PeerFault(f"A read holding registers response carries {item} bytes per register {where}, but its "
                        f"byte count is {count}, an odd number.")
    values = fields[layout[-1].name]
    if asked is not None:
        wanted = _byte_count(code, range(asked.fields["count"]))
        if count != wanted:
            items = "coils" if code == 0x01 else "registers"
            raise PeerFault(f"The request asked for {asked.fields['count']} {items}, so the byte count should be "
                            f"{wanted} {where}, but it is {count}.")
        values = values[: asked.fields["count"]]
    fields = {**fields, layout[-1].name: values}
    return Response(transaction, unit, code, tuple(values), None, None, fields)


def _check_pairing(asked: Request, transaction: int, unit: int, code: int) -> None:
    if transaction != asked.transaction:
        raise PeerFault(f"The response carries transaction {transaction}, but the request had {asked.transaction}; "
                        f"a server copies the transaction identifier ({GUIDE}, 3.1.3), so this answers another "
                        f"request.")
    if unit != asked.unit:
        raise PeerFault(f"The response comes from unit {unit}, but the request asked unit {asked.unit}; a server "
                        f"copies the unit identifier ({GUIDE}, 3.1.3).")
    if code & ~EXCEPTION_FLAG != asked.function:
        raise PeerFault(f"The response carries function code 0x{code:02X}, but the request was 0x{asked.function:02X}; "
                        f"a server answers with the same code, or that code + 0x80 for an exception ({APP}, "
                        f"section 7).")


# -- a stream into frames -------------------------------------------------------------------
class FrameReader:
    """Cuts a Modbus/TCP byte stream into whole frames by the MBAP length field.

    `feed(data)` takes whatever recv() returned (one byte, half a frame, two
    frames and a bit) and returns the frames it completed, oldest first; the
    rest waits for the next feed. The header is checked as soon as its bytes
    are in: a protocol identifier other than 0, or a length outside 2 to 254,
    means the stream is not Modbus/TCP or has lost its place. That is the
    peer's doing (PeerFault), and since Modbus/TCP has no marker to find the
    next frame by, the reader stays broken: close the connection. Frames
    that were complete before the bad header, in the same feed, ride along
    on the error as its `frames`.
    """

    def __init__(self):
        self._buffer = bytearray()
        self._fault: PeerFault | None = None

    def feed(self, data) -> list[bytes]:
        """Add received bytes; return the frames now complete (maybe none)."""
        data = _frame_bytes(data, "data", "sock.recv(260) returns")
        if self._fault is not None:
            raise PeerFault(f"This reader met a broken frame before ({self._fault}); a Modbus/TCP stream cannot "
                            f"be resynchronised, so close the connection and start a new FrameReader.")
        self._buffer += data
        frames = []
        # Each turn takes one whole frame of at least 8 bytes away, so the loop ends.
        while (protocol := _header_field(self._buffer, "protocol")) is not None:
            length = _header_field(self._buffer, "length")
            try:
                _check_mbap(protocol, length)
            except PeerFault as fault:
                fault.frames = frames
                self._fault = fault
                raise
            if length is None or len(self._buffer) < _LENGTH_END + length:
                break
            frames.append(bytes(self._buffer[:_LENGTH_END + length]))
            del self._buffer[:_LENGTH_END + length]
        return frames

    @property
    def pending(self) -> int:
        """Bytes received that do not make a whole frame yet."""
        return len(self._buffer)

    @property
    def broken(self) -> bool:
        """True once a bad header was met: the stream cannot be read on."""
        return self._fault is not None

    def __repr__(self) -> str:
        state = "broken" if self._fault is not None else f"{len(self._buffer)} bytes pending"
        return f"<FrameReader {state}>"
