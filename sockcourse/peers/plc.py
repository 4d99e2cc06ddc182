"""A simulated PLC on Modbus/TCP: pymodbus's real server on loopback, holding a small water tank's numbers.

Chapter 06 talks to an industrial controller the way a SCADA system does: it
reads holding registers (function 0x03), writes one (0x06) and reads coils
(0x01), with frames built by `struct` (`sockcourse.protocols.modbus`). The
controller at the other end is `PLC()`: the Modbus stack is pymodbus's,
nobody's in this course, listening on 127.0.0.1 and a port the kernel picks
(port 0; the standard port is 502, Modbus Messaging on TCP/IP Implementation
Guide 1.0b, 3.1.3, which a course never takes).

What it holds (addresses count from 0, as in the PDU):

    holding registers  0 level        cm, 0 to 200       measured: the program rewrites it
                       1 temperature  0.1 degC (215 = 21.5 degC), measured
                       2 setpoint     cm                 the level to keep: write this one
                       3 high_alarm   cm                 the alarm coil is on at or above it
                       4 cycles       program cycles run so far
    coils              0 pump   1 valve (the outlet)   2 alarm   (3 to 15: spare outputs, off)

Like a real PLC, it runs a program in cycles: each cycle it switches the pump
on below the setpoint (less a 5 cm band) and off at it, fills or drains the
tank, lets the temperature wander a tenth of a degree, and sets the alarm.
The randomness is seeded (`seed=`), so a run repeats exactly. The program
runs when you call `step(n)`, or every `tick` seconds if you pass `tick=`;
by default it waits for step(), so what you read stays put. Holding
registers are read-write in Modbus (Application Protocol 1.1b3, 4.3), so a
client may write the level too: the next cycle overwrites it, which is what
a real PLC does to a value its program owns.

A request outside the map gets exception 02, illegal data address, from
pymodbus itself: registers 5 and up, coils 16 and up.

Lifecycle: a PLC is a `Stoppable`, started when it is made, on an asyncio
loop thread of its own (so nothing pymodbus does can hold up another
server's loop); `stop()`, a `with` block, `sockcourse.stop_all()` and
re-running its notebook cell all stop it, closing the listening socket, every
client connection and the thread. pymodbus logs into no notebook cell: its
logger gets one handler, which keeps what it says on this PLC's thread in
`pymodbus_log` and drops the rest, and stops passing records to the root
logger. Nothing else of the logging setup is touched.

pymodbus versions: this relies on pymodbus >= 3.16, < 4 (tested with 3.16.1):
the SimData/SimDevice datastore as a server's context (pymodbus marks it
experimental; it changed between 3.12 and 3.16 and changes again on the 4.0
development branch), `ModbusTcpServer(context, address=...)`,
`serve_forever(background=True)`, `shutdown()`, `async_getValues()` and
`async_setValues()` on the server, and the bound socket in
`server.transport.sockets`.

What pymodbus 3.16.1 does that the spec would not (seen in tests/test_plc.py):
- an unknown function code, or a quantity outside the spec's range (126
  registers), gets function byte 0x80 with exception 01, where the spec asks
  for the function code + 0x80 (0x83 for 0x03) and, for a bad quantity,
  exception 03 (Application Protocol 1.1b3, 6.3 and section 7);
- a request for a unit it does not have gets exception 04 (server device
  failure), where a gateway would answer 0x0B;
- coils are kept in 16-bit words, so a map of 3 coils answers for 16;
- a frame with a protocol identifier other than 0, or a bad length, gets no
  answer at all, and that connection then never answers again;
- two requests that arrive in one TCP segment: the second is dropped, because
  pymodbus empties its receive buffer when it sends the first one's answer;
  so send one request and wait for its answer (as most clients do).
"""

from __future__ import annotations

import asyncio
import collections
import logging
import numbers
import random
import threading
import time
from dataclasses import dataclass

from ..core.checks import check_name, check_seconds, check_whole
from ..core.errors import (ArgumentError, ArgumentTypeError, CourseBugError, NotRunningError, PeerError,
                           SockcourseError, TimeLimitError, UsageError)
from ..core.lifecycle import Endpoint, stop_named
from ..core.limits import START_TIMEOUT
from ..core.loopthread import LoopThread

__all__ = ["HOST", "PLC", "PYMODBUS_VERSIONS", "Point", "TANK_COILS", "TANK_REGISTERS", "Unavailable"]

#: The PLC listens on loopback only.
HOST = "127.0.0.1"

#: The pymodbus versions this module is written for (see the module docstring).
PYMODBUS_VERSIONS = ">=3.16,<4"
_OLDEST, _TOO_NEW = (3, 16), (4, 0)


@dataclass(frozen=True)
class Point:
    """One register or coil of the tank: its address, name, units, value at start and what it means."""

    address: int
    name: str
    units: str
    start: int
    meaning: str


TANK_REGISTERS = (
    Point(0, "level", "cm", 120, "water level in the tank, 0 to 200 cm; measured, the program rewrites it"),
    Point(1, "temperature", "0.1 degC", 215, "water temperature in tenths of a degree: 215 is 21.5 degC; measured"),
    Point(2, "setpoint", "cm", 150, "the level the program keeps the tank at; write this one"),
    Point(3, "high_alarm", "cm", 180, "the alarm coil turns on at or above this level"),
    Point(4, "cycles", "", 0, "program cycles run so far, counting round after 65535"),
)
TANK_COILS = (
    Point(0, "pump", "", False, "inlet pump: the program runs it while the level is below the setpoint"),
    Point(1, "valve", "", True, "outlet valve: open lets water out to the users"),
    Point(2, "alarm", "", False, "high-level alarm: on at or above high_alarm"),
)

#: The tank's physics, per program cycle.
TANK_HEIGHT = 200   # cm
BAND = 5            # cm below the setpoint at which the pump starts
PUMP_RATE = 4       # cm a cycle the pump adds
OUTFLOW = (1, 3)    # cm a cycle an open valve lets out, drawn from this range
TEMPERATURE = (150, 300)  # tenths of a degC the temperature stays within

#: pymodbus keeps coils (and discrete inputs) in 16-bit words.
COILS_PER_WORD = 16
#: Bounds on a map of one's own, so a slip cannot build gigabytes.
MAX_POINTS = 10_000
#: Bounds on step() and tick=.
MAX_STEPS = 100_000
MIN_TICK, MAX_TICK = 0.01, 3600.0
#: Lines of pymodbus's log kept per PLC.
LOG_LINES = 200
#: Seconds a read of the PLC's own datastore may take on its loop.
READ_TIMEOUT = 5.0

_FC_READ_COILS, _FC_READ_REGISTERS, _FC_WRITE_COILS, _FC_WRITE_REGISTERS = 1, 3, 15, 16


class Unavailable(SockcourseError):
    """pymodbus is missing here, or its version is one this module was not written for."""


# -- pymodbus, imported on first use and kept quiet ---------------------------------------
class _LogKeeper(logging.Handler):
    """Keeps each PLC's share of pymodbus's log, by the thread that logged it; drops the rest."""

    def __init__(self):
        super().__init__(logging.WARNING)
        self.by_thread: dict[int, collections.deque] = {}

    def emit(self, record: logging.LogRecord) -> None:
        lines = self.by_thread.get(record.thread)
        if lines is None:
            return
        try:
            lines.append(f"{record.levelname.lower()}: {record.getMessage()}")
        except Exception:  # noqa: BLE001 - a log line must never break the server that wrote it
            pass


_KEEPER = _LogKeeper()
_modules = None
_import_lock = threading.Lock()


def _pymodbus():
    """pymodbus's server and datastore classes, imported once (about a fifth of a second, the first time)."""
    global _modules
    with _import_lock:
        if _modules is not None:
            return _modules
        try:
            import pymodbus
            from pymodbus.server import ModbusTcpServer
            from pymodbus.simulator import DataType, SimData, SimDevice
        except ImportError as exc:
            raise Unavailable(f"The PLC needs pymodbus, which could not be imported here ({exc}); install it with "
                              f"pip install 'pymodbus{PYMODBUS_VERSIONS}'.") from None
        version = tuple(int(part) for part in pymodbus.__version__.split(".")[:2] if part.isdigit())
        if not _OLDEST <= version < _TOO_NEW:
            raise Unavailable(f"pymodbus {pymodbus.__version__} is installed, but the PLC is written for pymodbus "
                              f"{PYMODBUS_VERSIONS}, whose datastore API differs; install it with "
                              f"pip install 'pymodbus{PYMODBUS_VERSIONS}'.")
        # Quiet: pymodbus warns on the loop thread (a bad frame, say), and through
        # the root logger's last-resort handler that would print into a notebook cell.
        logger = logging.getLogger("pymodbus")
        if _KEEPER not in logger.handlers:
            logger.addHandler(_KEEPER)
        logger.propagate = False
        if logger.level == logging.NOTSET:
            logger.setLevel(logging.WARNING)  # its debug lines cost time even when nobody reads them
        _modules = (ModbusTcpServer, DataType, SimData, SimDevice)
        return _modules


# -- the maps ------------------------------------------------------------------------------
def _register_map(holding) -> dict[int, int]:
    """{address: value} from None (the tank), a sequence (from address 0) or a mapping."""
    if holding is None:
        return {point.address: point.start for point in TANK_REGISTERS}
    if isinstance(holding, (str, bytes)) or not hasattr(holding, "__iter__"):
        raise ArgumentTypeError(f"The holding registers must be a list of values (from address 0) or a dict "
                                f"{{address: value}}, but got {holding!r:.60}; for example holding=[120, 215, 150].")
    pairs = holding.items() if hasattr(holding, "items") else enumerate(holding)
    registers = {}
    for address, value in pairs:
        address = check_whole(address, "register address", low=0, high=0xFFFF, example=0)
        registers[address] = check_whole(value, f"value of register {address}", low=0, high=0xFFFF,
                                         hint="a register holds 16 bits, 0 to 65535")
        if len(registers) > MAX_POINTS:
            raise ArgumentError(f"The PLC takes at most {MAX_POINTS:,} holding registers; pass fewer.")
    if not registers:
        raise ArgumentError("The holding registers must hold at least one register; for example holding=[0].")
    return registers


def _coil_list(coils) -> list[bool]:
    if coils is None:
        return [bool(point.start) for point in TANK_COILS]
    if isinstance(coils, (str, bytes)) or not hasattr(coils, "__iter__") or hasattr(coils, "items"):
        raise ArgumentTypeError(f"The coils must be a list of True/False values (from address 0), but got "
                                f"{coils!r:.60}; for example coils=[False, True, False].")
    values = list(coils)
    if not values or len(values) > MAX_POINTS:
        raise ArgumentError(f"The coils must hold 1 to {MAX_POINTS:,} values, but got {len(values):,}; "
                            f"for example coils=[False, True, False].")
    for number, value in enumerate(values):
        if isinstance(value, numbers.Number) and value in (0, 1):
            continue
        raise ArgumentError(f"Each coil is on or off (True or False), but coil {number} is {value!r}; "
                            f"for example coils=[False, True, False].")
    return [bool(value) for value in values]


def _runs(registers: dict[int, int]) -> list[tuple[int, list[int]]]:
    """Contiguous runs of addresses, each with its values: the gaps between them answer exception 02."""
    runs: list[tuple[int, list[int]]] = []
    for address in sorted(registers):
        if runs and runs[-1][0] + len(runs[-1][1]) == address:
            runs[-1][1].append(registers[address])
        else:
            runs.append((address, [registers[address]]))
    return runs


class PLC(Endpoint):
    """A simulated PLC speaking Modbus/TCP on 127.0.0.1, started when it is made; see the module docstring.

    unit: the unit identifier it answers to (1 unless given; 0 makes pymodbus
        answer every unit).
    holding: None for the tank's registers, or a map of your own: a list of
        values from address 0, or a dict {address: value} (the gaps answer
        exception 02). With a map of your own it runs no program.
    coils: None for the tank's coils (pump, valve, alarm), or a list of
        True/False from address 0.
    seed: seeds the program's randomness (outflow, temperature).
    tick: None (the program runs only when you call step()), or seconds
        between program cycles, run in the background.
    name: a name of your own; a running PLC with the same name is stopped first.

    For the caller: `address` (and `host`, `port`), `unit`,
    `holding_registers(start, count)` and `coil_values(start, count)` (what
    the datastore really holds), `step(n)`, `table()`, `connections` (clients
    accepted so far), `clients` (connected now), `pymodbus_log`,
    `start_seconds`, `running` and `stop()`.
    """

    what = "PLC"

    def __init__(self, *, unit: int = 1, holding=None, coils=None, seed: int = 0, tick: float | None = None,
                 name: str | None = None):
        if name is not None:
            name = check_name(name)
        self.unit = check_whole(unit, "unit", low=0, high=0xFF, example=1)
        self._registers = _register_map(holding)
        self._coils = _coil_list(coils)
        self.runs_program = holding is None and coils is None
        seed = check_whole(seed, "seed", example=1)
        if tick is not None:
            tick = check_seconds(tick, "tick", none_ok=False, maximum=MAX_TICK, example=0.5)
            if tick < MIN_TICK:
                raise ArgumentError(f"The tick must be at least {MIN_TICK} s between program cycles, but got {tick!r}; "
                                    f"for example tick=0.5, or leave it out and call step().")
            if not self.runs_program:
                raise ArgumentError("A PLC with a map of your own runs no program, so it has nothing to tick; "
                                    "leave tick out (or leave holding and coils out to get the tank).")
        super().__init__(name or "plc", name)
        self.seed, self.tick = seed, tick
        self._rng = random.Random(seed)
        self._loop: LoopThread | None = None
        self._server = None
        self._ticker = None
        self._errors: list[BaseException] = []
        self._accepted = 0
        self._open = 0
        self._log: collections.deque = collections.deque(maxlen=LOG_LINES)
        self.start_seconds: float | None = None
        if name is not None:
            stop_named(name)
        self._launch()

    # -- start ---------------------------------------------------------------------------
    def _device(self):
        ModbusTcpServer, DataType, SimData, SimDevice = _pymodbus()  # noqa: N806 - pymodbus's class names
        holding = [SimData(start, values=values, datatype=DataType.REGISTERS)
                   for start, values in _runs(self._registers)]
        coils = [SimData(0, values=self._coils, datatype=DataType.BITS)]
        # This PLC has no discrete inputs wired (they read off) and no input
        # registers (a read of one gets exception 02); pymodbus wants a block of each.
        inputs = [SimData(0, values=[False] * COILS_PER_WORD, datatype=DataType.BITS)]
        input_registers = [SimData(0, datatype=DataType.INVALID)]
        # Four separate blocks, as the spec's "separate blocks" data model
        # (Application Protocol 1.1b3, 4.3): coils addressed one by one.
        return ModbusTcpServer, SimDevice(id=self.unit, simdata=(coils, inputs, holding, input_registers))

    def _start(self) -> None:
        began = time.perf_counter()
        server_class, device = self._device()  # in the caller's thread: a problem fails in its own cell
        self._loop = LoopThread(f"sockcourse-plc-{self.name}").start()
        self._adopt_thread(self._loop.thread)
        _KEEPER.by_thread[self._loop.thread.ident] = self._log
        self._server = self._loop.run(self._listen(server_class, device), timeout=START_TIMEOUT,
                                      what=f"Starting the PLC {self.name!r}",
                                      hint="the machine may be overloaded; try again")
        self.address = tuple(self._server.transport.sockets[0].getsockname()[:2])
        if self.tick is not None:
            self._ticker = self._loop.submit(self._tick_loop())
        self.start_seconds = time.perf_counter() - began

    async def _listen(self, server_class, device):
        server = server_class(device, address=(HOST, 0), trace_connect=self._connected)
        try:
            await server.serve_forever(background=True)
        except RuntimeError as exc:
            server.close()
            raise PeerError(f"pymodbus could not listen on {HOST} port 0 ({exc}); its log says: "
                            f"{' | '.join(self._log) or 'nothing'}.") from None
        return server

    def _connected(self, connected: bool) -> None:
        # Called by pymodbus on the loop thread only, so plain counters suffice.
        if connected:
            self._accepted += 1
            self._open += 1
        else:
            self._open = max(0, self._open - 1)

    # -- the program ---------------------------------------------------------------------------
    async def _tick_loop(self) -> None:
        try:
            while True:  # ends when stop() cancels it
                await asyncio.sleep(self.tick)
                await self._cycle()
        except asyncio.CancelledError:
            raise
        except BaseException as exc:  # noqa: BLE001 - kept for stop(), which reports it
            self._errors.append(exc)

    async def _cycle(self) -> None:
        """One program cycle: read the inputs, decide the pump, move the tank, write the outputs."""
        server, unit = self._server, self.unit
        level, temperature, setpoint, high_alarm, cycles = await server.async_getValues(unit, _FC_READ_REGISTERS, 0, 5)
        pump, valve = (await server.async_getValues(unit, _FC_READ_COILS, 0, 2))[:2]
        target = min(setpoint, TANK_HEIGHT)
        if level < target - BAND:
            pump = True
        elif level >= target:
            pump = False
        level += PUMP_RATE if pump else 0
        if valve:
            level -= self._rng.randint(*OUTFLOW)
        level = max(0, min(TANK_HEIGHT, level))
        low, high = TEMPERATURE
        temperature = max(low, min(high, temperature + self._rng.choice((-1, 0, 1))))
        # Only what the program owns is written: a setpoint or a valve a client
        # writes between two cycles stays as written.
        await server.async_setValues(unit, _FC_WRITE_REGISTERS, 0, [level, temperature])
        await server.async_setValues(unit, _FC_WRITE_REGISTERS, 4, [(cycles + 1) % 0x10000])
        await server.async_setValues(unit, _FC_WRITE_COILS, 0, [pump])
        await server.async_setValues(unit, _FC_WRITE_COILS, 2, [level >= high_alarm])

    async def _cycles(self, count: int) -> None:
        for _ in range(count):
            await self._cycle()

    def step(self, n: int = 1) -> None:
        """Run `n` program cycles now (the tank's program; see the module docstring)."""
        self._check_running()
        if not self.runs_program:
            raise UsageError("This PLC holds a map of your own, so it runs no program and has nothing to step; "
                             "leave holding and coils out to get the tank and its program.")
        n = check_whole(n, "n", low=1, high=MAX_STEPS, example=10)
        self._loop.run(self._cycles(n), timeout=READ_TIMEOUT + n * 0.01, what=f"Running {n} cycles of the PLC",
                       hint="the machine may be overloaded; try fewer cycles")

    # -- what the datastore holds ----------------------------------------------------------------
    def holding_registers(self, start: int = 0, count: int | None = None) -> list[int]:
        """The values of holding registers start .. start+count-1 as the PLC's datastore holds them.

        count None: up to the end of the run of registers that `start` is in.
        """
        self._check_running()
        start = check_whole(start, "start", low=0, high=0xFFFF, example=0)
        run_end = start
        while run_end in self._registers:
            run_end += 1
        count = (run_end - start or 1) if count is None else check_whole(count, "count", low=1, high=MAX_POINTS,
                                                                          example=3)
        missing = [address for address in range(start, start + count) if address not in self._registers]
        if missing:
            raise ArgumentError(f"Register {missing[0]} is not in this PLC's map ({self._map_text()}), so a client "
                                f"asking for registers {start} to {start + count - 1} gets exception 02 (illegal "
                                f"data address); ask for registers inside the map.")
        return list(self._read(_FC_READ_REGISTERS, start, count))

    def coil_values(self, start: int = 0, count: int | None = None) -> list[bool]:
        """The coils start .. start+count-1 as the datastore holds them (count None: the coils of the map)."""
        self._check_running()
        capacity = -(-len(self._coils) // COILS_PER_WORD) * COILS_PER_WORD
        start = check_whole(start, "start", low=0, high=0xFFFF, example=0)
        count = max(len(self._coils) - start, 1) if count is None else check_whole(count, "count", low=1,
                                                                                   high=MAX_POINTS, example=3)
        if start + count > capacity:
            raise ArgumentError(f"This PLC has coils 0 to {capacity - 1} (pymodbus keeps them in words of "
                                f"{COILS_PER_WORD}), so a client asking for coils {start} to {start + count - 1} "
                                f"gets exception 02 (illegal data address); ask for coils inside that range.")
        return [bool(value) for value in self._read(_FC_READ_COILS, start, count)]

    def _read(self, function: int, start: int, count: int) -> list:
        try:
            return self._loop.run(self._server.async_getValues(self.unit, function, start, count),
                                  timeout=READ_TIMEOUT, what="Reading the PLC's datastore",
                                  hint="the machine may be overloaded; try again")
        except TypeError as exc:  # pymodbus's word for "that answer would be an exception response"
            raise CourseBugError(f"pymodbus refused to read {count} values from address {start} with function "
                                 f"{function} ({exc}), though the PLC's map has them; please report this.") from None

    def table(self) -> list[dict]:
        """One row per register and coil of the map, with its value now: for a notebook table."""
        registers = {point.address: point for point in TANK_REGISTERS} if self.runs_program else {}
        coils = {point.address: point for point in TANK_COILS} if self.runs_program else {}
        rows = []
        for start, values in _runs(self._registers):
            for address, value in zip(range(start, start + len(values)), self.holding_registers(start, len(values))):
                point = registers.get(address)
                rows.append({"kind": "holding register", "address": address,
                             "name": point.name if point else f"register {address}", "value": value,
                             "units": point.units if point else "", "meaning": point.meaning if point else ""})
        for address, value in enumerate(self.coil_values(0, len(self._coils))):
            point = coils.get(address)
            rows.append({"kind": "coil", "address": address, "name": point.name if point else f"coil {address}",
                         "value": value, "units": "", "meaning": point.meaning if point else ""})
        return rows

    def _map_text(self) -> str:
        return ", ".join(f"{start}" if len(values) == 1 else f"{start} to {start + len(values) - 1}"
                         for start, values in _runs(self._registers))

    def _check_running(self) -> None:
        if not self.running:
            raise NotRunningError(f"The PLC {self.name!r} has stopped; start a new one with PLC().")

    # -- stop --------------------------------------------------------------------------------
    def _stop(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        if self._loop is not None and self._loop.running and self._server is not None:
            try:
                self._loop.run(self._shut(), timeout=min(timeout, START_TIMEOUT), what="Stopping the PLC",
                               hint="the loop thread is blocked")
            except (NotRunningError, TimeLimitError):
                pass  # the loop is ending or stuck: stopping it below closes the sockets with it
        if self._loop is not None:
            self._loop.stop(max(deadline - time.monotonic(), 0.1))
            if not self._loop.finished:
                raise CourseBugError(f"The PLC {self.name!r}'s loop thread was still running {timeout} s after "
                                     f"stop(); that is a bug in sockcourse.peers.plc: please report it.")
        if self._errors:
            error = self._errors[0]
            raise CourseBugError(f"The PLC {self.name!r}'s program failed in a background cycle with "
                                 f"{type(error).__name__}: {error}; please report this.") from error

    async def _shut(self) -> None:
        if self._ticker is not None:
            self._ticker.cancel()
        await self._server.shutdown()  # closes the listening socket and every client's connection
        for _ in range(3):
            await asyncio.sleep(0)  # asyncio closes a transport's socket on a later turn of the loop

    def _close(self) -> None:
        loop = self._loop
        if loop is not None:
            if loop.thread is not None:
                _KEEPER.by_thread.pop(loop.thread.ident, None)
            if not loop.finished:
                try:
                    loop.stop()
                except Exception:  # noqa: BLE001 - best effort after a failed start; _stop said what mattered
                    pass

    # -- conveniences ----------------------------------------------------------------------------
    @property
    def connections(self) -> int:
        """Client connections pymodbus has accepted so far."""
        return self._accepted

    @property
    def clients(self) -> int:
        """Client connections open now."""
        return self._open

    @property
    def pymodbus_log(self) -> list[str]:
        """What pymodbus logged (warnings and errors) on this PLC's thread, oldest first, at most LOG_LINES."""
        return list(self._log)

    def _more(self) -> str:
        return f", unit {self.unit}, {self._open} clients"
