"""Chapter 06's answers by their expected names: the same solutions as homework-source/06_languages.ipynb.

The notebook's answer cells are made from this file (each function's body is
its solution region), so the two cannot drift apart.
"""

import random
import struct
from collections import namedtuple


# -- q1 -----------------------------------------------------------------------------------------
def write_utf(sock, text):
    """Send text as Java's DataOutputStream.writeUTF does: a 2-byte length, then modified UTF-8."""
    units = []
    for char in text:
        value = ord(char)
        if value > 0xFFFF:  # beyond the BMP: Java holds, and writes, two surrogates
            value -= 0x10000
            units += [chr(0xD800 + (value >> 10)), chr(0xDC00 + (value & 0x3FF))]
        else:
            units.append(char)
    body = "".join(units).encode("utf-8", "surrogatepass").replace(b"\x00", b"\xc0\x80")
    if len(body) > 65535:
        raise ValueError(f"the text is {len(body)} bytes in modified UTF-8; writeUTF allows 65535")
    sock.sendall(struct.pack(">H", len(body)) + body)


def read_utf(sock):
    """Read one string as Java's DataInputStream.readUTF does, and return it as a str."""
    def recv_exactly(size):
        data = b""
        while len(data) < size:
            piece = sock.recv(size - len(data))
            if not piece:
                raise ConnectionError(f"the peer closed with {size - len(data)} of {size} bytes still to come")
            data += piece
        return data

    (size,) = struct.unpack(">H", recv_exactly(2))
    body = recv_exactly(size)
    # surrogatepass keeps each surrogate as a character; a trip through UTF-16 pairs them up again.
    text = body.replace(b"\xc0\x80", b"\x00").decode("utf-8", "surrogatepass")
    return text.encode("utf-16", "surrogatepass").decode("utf-16")


# -- q2 -----------------------------------------------------------------------------------------
class ModbusError(Exception):
    """A Modbus exception response: `code` is its exception code (2: illegal data address)."""

    def __init__(self, code):
        super().__init__(f"the device answered with Modbus exception {code}")
        self.code = code


def read_holding_registers(sock, unit, start, count):
    """Read `count` holding registers from `start` of device `unit` (Modbus/TCP function 0x03)."""
    def recv_exactly(size):
        data = b""
        while len(data) < size:
            piece = sock.recv(size - len(data))
            if not piece:
                raise ConnectionError(f"the connection ended {size - len(data)} bytes into a response")
            data += piece
        return data

    if not 1 <= count <= 125:
        raise ValueError(f"a request reads 1 to 125 registers, not {count}")
    tid = random.randrange(1, 0x10000)
    sock.sendall(struct.pack(">HHHBBHH", tid, 0, 6, unit, 3, start, count))
    while True:
        got_tid, protocol, length, got_unit = struct.unpack(">HHHB", recv_exactly(7))
        pdu = recv_exactly(length - 1)
        if got_tid != tid:
            continue  # the late answer to an earlier request: not ours
        if got_unit != unit:
            raise ValueError(f"the response comes from unit {got_unit}, not {unit}")
        if pdu[0] == 0x83:
            raise ModbusError(pdu[1])
        if pdu[0] != 3 or pdu[1] != 2 * count:
            raise ValueError(f"a response that does not answer this request: {pdu[:2].hex()}")
        return list(struct.unpack(f">{count}H", pdu[2:2 + 2 * count]))


# -- q3 -----------------------------------------------------------------------------------------
Reading = namedtuple("Reading", ["seq", "temp_centi", "flags"])


def parse_readings(sock):
    """Every reading the sensor sends until it closes, in the sender's byte order (found by the magic)."""
    data = b""
    while True:
        piece = sock.recv(65536)
        if not piece:
            break
        data += piece
    if data[:4] == b"READ":
        record = struct.Struct("!IhH")
    elif data[:4] == b"DAER":  # the same magic, little-endian: a sender that forgot htonl()
        record = struct.Struct("<IhH")
    else:
        raise ValueError(f"the stream does not start with the magic record: {data[:8]!r}")
    if len(data) % record.size:
        raise ValueError(f"the stream ends {len(data) % record.size} bytes into a record")
    return [Reading(*record.unpack_from(data, offset)) for offset in range(record.size, len(data), record.size)]
