"""q2 not written yet: the stub raises NotImplementedError."""
QUESTION = "06_languages.q2"
EXPECT = {"status": "not-attempted", "only": ["request"]}


class ModbusError(Exception):
    def __init__(self, code):
        super().__init__(f"Modbus exception {code}")
        self.code = code


def answer(sock, unit, start, count):
    raise NotImplementedError("q2: write read_holding_registers")
