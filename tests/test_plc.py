"""Tests of sockcourse.peers.plc: the simulated PLC, pymodbus's real server, spoken to by real clients.

Two kinds of client: pymodbus's own (a client nobody here wrote) and a
hand-made one that builds frames with struct through
sockcourse.protocols.modbus, also through the fault-injecting link with
chunk=1 so that the answer arrives byte by byte. The PLC runs on loopback,
port 0. A few tests pin down what pymodbus 3.16 does where the spec says
otherwise (see the plc module's docstring): if pymodbus changes, they say so.
About 4 s of tests (most of it waits for answers that never come),
plus pytest's own start-up.
"""

from __future__ import annotations

import logging
import os
import random
import re
import shutil
import socket
import subprocess
import threading

import pytest

import sockcourse
from sockcourse import registry
from sockcourse.core.errors import ArgumentError, ArgumentTypeError, NotRunningError, PeerFault, UsageError
from sockcourse.link import link
from sockcourse.peers import plc as plc_module
from sockcourse.peers.plc import PLC, TANK_COILS, TANK_REGISTERS
from sockcourse.protocols import modbus

from conftest import wait_for

pymodbus_client = pytest.importorskip("pymodbus.client", reason="pymodbus is not installed; pip install pymodbus")

pytestmark = pytest.mark.timeout(60)

TANK = [point.start for point in TANK_REGISTERS]


# -- helpers ----------------------------------------------------------------------------------
def open_sockets() -> int:
    """Sockets this process holds open now, as /proc sees them (Linux)."""
    count = 0
    for name in os.listdir("/proc/self/fd"):
        try:
            count += os.readlink(f"/proc/self/fd/{name}").startswith("socket:")
        except OSError:
            pass  # the descriptor listdir itself used, closed by now
    return count


def plc_threads() -> list[threading.Thread]:
    return [thread for thread in threading.enumerate() if thread.name.startswith("sockcourse-plc")]


class StructClient:
    """A Modbus/TCP client written with struct (protocols.modbus) on a plain socket: one request, one answer."""

    def __init__(self, address, timeout: float = 3.0):
        self.sock = socket.create_connection(address, timeout=timeout)
        self.reader = modbus.FrameReader()
        self.transaction = 0
        self.pieces = 0  # recv() calls that brought bytes

    def ask(self, build, *args) -> modbus.Response:
        self.transaction += 1
        request = build(self.transaction, 1, *args)
        return modbus.parse_response(self.exchange(request), request)

    def exchange(self, request: bytes) -> bytes:
        self.sock.sendall(request)
        return self.receive()

    def receive(self) -> bytes:
        """The next whole frame from the PLC, however many recv() calls it takes."""
        for _ in range(modbus.MAX_ADU + 1):  # at worst one byte a recv()
            data = self.sock.recv(modbus.MAX_ADU)
            if not data:
                raise AssertionError("the PLC closed the connection instead of answering")
            self.pieces += 1
            frames = self.reader.feed(data)
            if frames:
                assert len(frames) == 1 and self.reader.pending == 0
                return frames[0]
        raise AssertionError("no whole frame after the largest frame's worth of recv() calls")

    def close(self) -> None:
        self.sock.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()


@pytest.fixture
def plc():
    with PLC() as running:
        yield running


@pytest.fixture
def client(plc):
    made = pymodbus_client.ModbusTcpClient(plc.host, port=plc.port, timeout=3, retries=0)
    assert made.connect(), "pymodbus's client could not connect to the PLC"
    yield made
    made.close()


# -- pymodbus's own client ------------------------------------------------------------------------
def test_pymodbus_client_reads_the_tank_registers(plc, client):
    answer = client.read_holding_registers(0, count=5, device_id=1)
    assert not answer.isError()
    assert answer.registers == TANK == plc.holding_registers(0, 5)


def test_pymodbus_client_writes_the_setpoint_and_the_datastore_has_it(plc, client):
    answer = client.write_register(2, 170, device_id=1)
    assert not answer.isError() and (answer.address, answer.registers) == (2, [170])
    assert plc.holding_registers(2, 1) == [170]
    assert client.read_holding_registers(2, count=1, device_id=1).registers == [170]


def test_pymodbus_client_reads_the_coils(plc, client):
    answer = client.read_coils(0, count=3, device_id=1)
    expected = [bool(point.start) for point in TANK_COILS]
    assert answer.bits[:3] == expected == plc.coil_values(0, 3)


def test_an_address_outside_the_map_is_exception_02(client):
    answer = client.read_holding_registers(len(TANK), count=1, device_id=1)
    assert answer.isError() and answer.exception_code == 2 and answer.function_code == 0x83
    answer = client.read_holding_registers(3, count=3, device_id=1)  # 3 and 4 exist, 5 does not
    assert answer.isError() and answer.exception_code == 2
    answer = client.read_coils(16, count=1, device_id=1)
    assert answer.isError() and answer.exception_code == 2 and answer.function_code == 0x81


def test_spare_coils_up_to_16_read_off(client):
    # pymodbus keeps coils in 16-bit words: coils 3 to 15 of this PLC read as off.
    assert client.read_coils(3, count=13, device_id=1).bits[:13] == [False] * 13


# -- a client made with struct ----------------------------------------------------------------------
def test_struct_client_reads_writes_and_gets_exceptions(plc):
    with StructClient(plc.address) as me:
        assert me.ask(modbus.read_holding_registers, 0, 5).values == tuple(TANK)
        assert me.ask(modbus.write_single_register, 2, 160).values == (160,)
        assert plc.holding_registers(2, 1) == [160]
        assert me.ask(modbus.read_coils, 0, 3).values == (False, True, False)
        refused = me.ask(modbus.read_holding_registers, 5, 1)
        assert (refused.exception, refused.exception_text) == (2, "illegal data address")
        assert refused.function == 0x03 and refused.fields["function"] == 0x83


def test_the_plc_answers_the_spec_exception_example_byte_for_byte(plc):
    # Section 7's example: read 1 output at 1185 (0x04A1); there is none, so 0x81 and exception 02.
    with StructClient(plc.address) as me:
        answer = me.exchange(bytes.fromhex("0102 0000 0006 01 01 04A1 0001"))
    assert answer == bytes.fromhex("0102 0000 0003 01 81 02")


def test_the_answer_arrives_byte_by_byte_through_the_link_and_is_reassembled(plc):
    with link(plc, chunk=1, gap=0.002) as net, StructClient(net.address) as me:
        answer = me.ask(modbus.read_holding_registers, 0, 5)
        assert answer.values == tuple(TANK)
    # Read once the link has stopped: it writes a piece down just after sending it.
    to_client = [hop for hop in net.record if hop.direction == "to_client"]
    to_server = [hop for hop in net.record if hop.direction == "to_server"]
    response_size = modbus.MBAP_SIZE + 2 + 2 * 5
    assert [hop.nbytes for hop in to_client] == [1] * response_size  # the link sent it one byte at a time
    assert [hop.nbytes for hop in to_server] == [1] * 12  # and pymodbus got the request so too
    assert me.pieces >= 1


def test_two_clients_at_once_each_get_their_own_answers(plc, client):
    with StructClient(plc.address) as first, StructClient(plc.address) as second:
        wait_for(lambda: plc.clients == 3, what="three clients connected to the PLC")
        assert first.ask(modbus.write_single_register, 2, 111).values == (111,)
        assert second.ask(modbus.read_holding_registers, 2, 1).values == (111,)
        assert client.read_holding_registers(2, count=1, device_id=1).registers == [111]
        assert second.ask(modbus.write_single_register, 3, 190).values == (190,)
        assert first.ask(modbus.read_holding_registers, 0, 5).values == (120, 215, 111, 190, 0)
        assert (first.transaction, second.transaction) == (2, 2)
    wait_for(lambda: plc.clients == 1, what="the struct clients' connections to close")
    assert plc.connections == 3


# -- the lifecycle -------------------------------------------------------------------------------------
def test_stop_with_a_client_connected_leaves_no_thread_and_no_socket():
    sockets_before, threads_before = open_sockets(), plc_threads()
    tank = PLC()
    assert plc_threads() and tank in registry.running()
    with StructClient(tank.address) as me:
        assert me.ask(modbus.read_holding_registers, 0, 1).values == (120,)
        tank.stop()
        assert me.sock.recv(16) == b""  # pymodbus closed our connection: end of stream
    assert not tank.running and tank.stopped and tank not in registry.running()
    assert plc_threads() == threads_before == []
    assert open_sockets() == sockets_before
    with pytest.raises(ConnectionRefusedError), socket.create_connection(tank.address, timeout=2):
        pass  # nothing listens there any more
    tank.stop()  # safe twice


def test_with_block_stop_all_and_a_namesake_all_stop_it():
    with PLC() as tank:
        address = tank.address
    assert tank.stopped and not plc_threads()
    loose = PLC()
    assert sockcourse.stop_all() >= 1 and loose.stopped and not plc_threads()
    first = PLC(name="tank")
    second = PLC(name="tank")  # re-running a cell with the same name replaces the first
    assert first.stopped and second.running and second.address != first.address
    second.stop()
    assert address[0] == "127.0.0.1"


def test_restart_in_the_same_process_leaves_nothing_behind():
    sockets_before = open_sockets()
    ports = set()
    for _ in range(3):
        with PLC(seed=1) as tank, StructClient(tank.address) as me:
            assert me.ask(modbus.read_holding_registers, 0, 5).values == tuple(TANK)
            ports.add(tank.port)
    assert not plc_threads() and open_sockets() == sockets_before
    assert all(port > 0 for port in ports)
    assert tank.start_seconds is not None and tank.start_seconds > 0


def test_a_stopped_plc_says_so():
    tank = PLC()
    tank.stop()
    with pytest.raises(NotRunningError, match="has stopped"):
        tank.holding_registers(0, 1)
    with pytest.raises(NotRunningError):
        tank.step()


# -- the program ------------------------------------------------------------------------------------
def test_the_program_fills_the_tank_towards_the_setpoint_and_a_seed_repeats_it(plc):
    plc.step(1)
    level, _, setpoint, _, cycles = plc.holding_registers()
    assert cycles == 1 and plc.coil_values()[0] is True  # 120 cm is below 150 - 5: the pump runs
    # One cycle by hand: the pump adds its rate, the open valve lets out the seed's first draw.
    assert level == 120 + plc_module.PUMP_RATE - random.Random(0).randint(*plc_module.OUTFLOW)
    plc.step(60)
    level, temperature, setpoint, _, cycles = plc.holding_registers()
    assert cycles == 61 and setpoint - 10 <= level <= setpoint + 4
    assert 150 <= temperature <= 300
    with PLC(seed=0) as twin, PLC(seed=99) as other:
        twin.step(61)
        other.step(61)
        assert twin.holding_registers() == plc.holding_registers()
        assert other.holding_registers() != plc.holding_registers()


def test_the_program_overwrites_what_it_owns_and_keeps_what_a_client_wrote(plc):
    with StructClient(plc.address) as me:
        me.ask(modbus.write_single_register, 0, 199)   # the level: the program's own
        me.ask(modbus.write_single_register, 3, 100)   # high_alarm: a setting
        plc.step(1)
        level, _, _, high_alarm, _ = plc.holding_registers()
        assert level < 199 and high_alarm == 100
        assert me.ask(modbus.read_coils, 0, 3).values == (False, True, True)  # pump off, alarm on


def test_tick_runs_the_program_in_the_background():
    with PLC(tick=0.02) as tank:
        wait_for(lambda: tank.holding_registers(4, 1)[0] >= 3, what="three program cycles")


def test_a_map_of_ones_own_with_a_gap():
    with PLC(holding={0: 11, 1: 22, 10: 33}, coils=[True], unit=7) as custom, StructClient(custom.address) as me:
        request = modbus.read_holding_registers(1, 7, 0, 2)
        assert modbus.parse_response(me.exchange(request), request).values == (11, 22)
        request = modbus.read_holding_registers(2, 7, 1, 2)  # register 2 is in the gap
        assert modbus.parse_response(me.exchange(request), request).exception == 2
        assert custom.holding_registers(10) == [33] and custom.coil_values() == [True]
        assert [row["value"] for row in custom.table()] == [11, 22, 33, True]
        with pytest.raises(ArgumentError, match="not in this PLC's map"):
            custom.holding_registers(2)
        with pytest.raises(UsageError, match="runs no program"):
            custom.step()


def test_the_table_names_every_point(plc):
    rows = plc.table()
    assert [row["name"] for row in rows] == [p.name for p in TANK_REGISTERS] + [p.name for p in TANK_COILS]
    assert rows[0]["value"] == 120 and rows[0]["units"] == "cm"


@pytest.mark.parametrize("kwargs, error, words", [
    ({"unit": 256}, ArgumentError, "unit"),
    ({"holding": [70000]}, ArgumentError, "65,535"),
    ({"holding": "120"}, ArgumentTypeError, "list of values"),
    ({"holding": []}, ArgumentError, "at least one"),
    ({"coils": [2]}, ArgumentError, "on or off"),
    ({"coils": {0: True}}, ArgumentTypeError, "list of True/False"),
    ({"tick": 0.001}, ArgumentError, "at least 0.01"),
    ({"tick": -1}, ArgumentError, "tick"),
    ({"holding": [1], "tick": 1.0}, ArgumentError, "nothing to tick"),
    ({"seed": 1.5}, ArgumentError, "seed"),
    ({"name": ""}, ArgumentTypeError, "name"),
])
def test_bad_arguments_get_one_sentence_and_start_nothing(kwargs, error, words):
    with pytest.raises(error, match=words):
        PLC(**kwargs)
    assert not plc_threads()


def test_reading_outside_the_datastore_is_refused_with_a_sentence(plc):
    with pytest.raises(ArgumentError, match="exception 02"):
        plc.holding_registers(4, 2)
    with pytest.raises(ArgumentError, match="coils 0 to 15"):
        plc.coil_values(10, 10)


# -- what pymodbus 3.16 does where the spec says otherwise ----------------------------------------------
def test_pymodbus_answers_126_registers_and_unknown_functions_with_0x80(plc):
    with StructClient(plc.address) as me:
        too_many = modbus.adu(1, 1, bytes.fromhex("03 0000 007E"))  # the builder would refuse 126
        assert me.exchange(too_many) == bytes.fromhex("0001 0000 0003 01 80 01")
        unknown = modbus.adu(2, 1, bytes.fromhex("41 0000 0001"))
        assert me.exchange(unknown) == bytes.fromhex("0002 0000 0003 01 80 01")
        with pytest.raises(PeerFault, match="0x80"):
            modbus.parse_response(me.exchange(modbus.adu(3, 1, bytes.fromhex("03 0000 007E"))),
                                  modbus.adu(3, 1, bytes.fromhex("03 0000 007E")))
    assert any("125" in line for line in plc.pymodbus_log)  # pymodbus's own words, kept for the PLC


def test_another_unit_gets_exception_04_from_pymodbus(plc):
    with StructClient(plc.address) as me:
        request = modbus.read_holding_registers(1, 9, 0, 1)
        assert modbus.parse_response(me.exchange(request), request).exception == 4


@pytest.mark.parametrize("garbage", ["0001 0001 0006 01 03 0000 0001",   # protocol identifier 1
                                     "0001 0000 0000 01 03 0000 0001",   # length 0
                                     "0001 0000 012C 01 03 0000 0001"],  # length 300
                         ids=["protocol 1", "length 0", "length 300"])
def test_garbage_gets_no_answer_and_the_connection_stays_dumb(plc, garbage):
    with StructClient(plc.address, timeout=0.25) as me:
        me.sock.sendall(bytes.fromhex(garbage))
        with pytest.raises(TimeoutError):
            me.sock.recv(16)
        me.sock.sendall(modbus.read_holding_registers(2, 1, 0, 1))
        with pytest.raises(TimeoutError):
            me.sock.recv(16)
    with StructClient(plc.address) as fresh:  # a new connection is served again
        assert fresh.ask(modbus.read_holding_registers, 0, 1).values == (120,)


def test_a_second_request_in_the_same_segment_is_dropped(plc):
    # pymodbus clears its receive buffer when it sends an answer, so a request that
    # came in the same segment as the one answered is lost: send one, wait for its answer.
    with StructClient(plc.address, timeout=0.3) as me:
        first, second = modbus.read_holding_registers(1, 1, 0, 1), modbus.read_holding_registers(2, 1, 1, 1)
        me.sock.sendall(first + second)
        assert modbus.parse_response(me.receive(), first).values == (120,)
        with pytest.raises(TimeoutError):
            me.sock.recv(16)
        third = modbus.read_holding_registers(3, 1, 2, 1)
        assert modbus.parse_response(me.exchange(third), third).values == (150,)


def test_pymodbus_prints_nothing_and_its_log_reaches_no_root_handler(plc, capfd):
    class Collect(logging.Handler):
        def __init__(self):
            super().__init__(logging.DEBUG)
            self.records = []

        def emit(self, record):
            self.records.append(record)

    root, collect = logging.getLogger(), Collect()
    root.addHandler(collect)  # as a learner's logging.basicConfig() would (pytest's own handlers aside)
    try:
        with StructClient(plc.address) as me:
            me.exchange(modbus.adu(1, 1, bytes.fromhex("03 0000 007E")))  # pymodbus warns about this one
    finally:
        root.removeHandler(collect)
    out, err = capfd.readouterr()
    assert out == "" and err == ""
    assert not [record for record in collect.records if record.name.startswith("pymodbus")]
    assert plc.pymodbus_log and all(line.startswith(("warning", "error")) for line in plc.pymodbus_log)
    pymodbus_logger = logging.getLogger("pymodbus")
    assert pymodbus_logger.propagate is False and plc_module._KEEPER in pymodbus_logger.handlers


def test_the_version_range_is_the_one_installed():
    import pymodbus

    major, minor = (int(part) for part in pymodbus.__version__.split(".")[:2])
    assert plc_module._OLDEST <= (major, minor) < plc_module._TOO_NEW


# -- a program nobody here wrote: Debian's mbpoll ---------------------------------------------------------
def test_mbpoll_reads_the_registers(plc):
    mbpoll = shutil.which("mbpoll")
    if mbpoll is None:
        pytest.skip("mbpoll is not installed; install it with 'apt-get install mbpoll'.")
    # -0: addresses as in the PDU (from 0); -t 4: holding registers; -1: poll once.
    ran = subprocess.run([mbpoll, "-m", "tcp", "-a", "1", "-0", "-r", "0", "-c", "5", "-t", "4", "-1",
                          "-o", "2", "-p", str(plc.port), plc.host], capture_output=True, text=True, timeout=10)
    assert ran.returncode == 0, ran.stderr
    values = [int(value) for value in re.findall(r"^\[\d+\]:\s+(-?\d+)", ran.stdout, re.MULTILINE)]
    assert values == TANK, ran.stdout
