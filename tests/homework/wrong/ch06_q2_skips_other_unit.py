"""q2 with one mistake: a response from another unit is skipped like a stale one, and the next never comes."""
QUESTION = "06_languages.q2"
EXPECT = {"fails": ["unit"], "hint": "unit-check", "passes": ["request", "stale"]}
import struct


class ModbusError(Exception):
    def __init__(self, code):
        super().__init__(f"Modbus exception {code}")
        self.code = code


def _recv_exactly(sock, size):
    data = b""
    while len(data) < size:
        piece = sock.recv(size - len(data))
        if not piece:
            raise ConnectionError(f"the connection ended {size - len(data)} bytes short")
        data += piece
    return data

_tid = 0


def answer(sock, unit, start, count):
    global _tid
    if not 1 <= count <= 125:
        raise ValueError("1 to 125 registers")
    _tid = (_tid + 1) & 0xFFFF
    sock.sendall(struct.pack(">HHHBBHH", _tid, 0, 6, unit, 3, start, count))
    while True:
        tid, _, length, got_unit = struct.unpack(">HHHB", _recv_exactly(sock, 7))
        pdu = _recv_exactly(sock, length - 1)
        if tid != _tid or got_unit != unit:
            continue
        if pdu[0] & 0x80:
            raise ModbusError(pdu[1])
        return list(struct.unpack(f">{count}H", pdu[2:]))
