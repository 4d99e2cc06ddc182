"""q2 with one mistake: the reading loop stops quietly at b'', so a response cut short is unpacked anyway."""
QUESTION = "06_languages.q2"
EXPECT = {"fails": ["cut"], "hint": "eof", "passes": ["request", "ten", "chunk3", "stale"]}
import struct


class ModbusError(Exception):
    def __init__(self, code):
        super().__init__(f"Modbus exception {code}")
        self.code = code


def _recv_up_to(sock, size):
    data = b""
    while len(data) < size:
        piece = sock.recv(size - len(data))
        if not piece:
            break
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
        tid, _, length, got_unit = struct.unpack(">HHHB", _recv_up_to(sock, 7))
        pdu = _recv_up_to(sock, length - 1)
        if tid != _tid:
            continue
        if pdu[0] & 0x80:
            raise ModbusError(pdu[1])
        return list(struct.unpack(f">{len(pdu[2:]) // 2}H", pdu[2:2 + 2 * (len(pdu[2:]) // 2)]))
