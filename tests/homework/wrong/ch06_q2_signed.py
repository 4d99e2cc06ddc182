"""q2 with one mistake: the registers are unpacked as signed numbers ('h')."""
QUESTION = "06_languages.q2"
EXPECT = {"fails": ["ten", "request"], "hint": "unsigned", "passes": ["exception", "limit"]}
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


def answer(sock, unit, start, count):
    if not 1 <= count <= 125:
        raise ValueError("1 to 125 registers")
    sock.sendall(struct.pack(">HHHBBHH", 1, 0, 6, unit, 3, start, count))
    tid, _, length, got_unit = struct.unpack(">HHHB", _recv_exactly(sock, 7))
    pdu = _recv_exactly(sock, length - 1)
    if pdu[0] & 0x80:
        raise ModbusError(pdu[1])
    return list(struct.unpack(f">{count}h", pdu[2:]))
