"""q2 with one mistake: one recv() is taken to hold the whole response."""
QUESTION = "06_languages.q2"
EXPECT = {"fails": ["chunk3"], "hint": "read-exact", "passes": ["request", "ten", "exception", "limit"]}
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
    data = sock.recv(260)
    tid, _, length, got_unit, function = struct.unpack(">HHHBB", data[:8])
    if function & 0x80:
        raise ModbusError(data[8])
    return list(struct.unpack(f">{count}H", data[9:9 + 2 * count]))
