"""Many clients at once, measured: each server model against 10 ... 10,000 concurrent connections.

Three processes take part in one measurement, so that each side has its own
descriptor limit and the measuring does not steal the server's time:

- the *server* process runs one model (`python -m sockcourse.bench.manyclients server MODEL`);
- the *clients* process opens N connections from one thread with `selectors`
  (`python -m sockcourse.bench.manyclients clients --port P --clients N`);
  a sweep keeps one for all its runs, and gives it one run at a time on
  its stdin (`clients --jobs`), so a run starts one new process, not two;
- this process (a notebook's kernel, or `python -m sockcourse bench`) starts
  both, samples the server's memory and threads with psutil, and collects
  the clients' report. At the moment every echo is in and no connection has
  closed, it asks the kernel two more questions: how many connections the
  server holds (sock_diag, filtered on the server's port, as `ss` asks), and
  how much kernel memory the machine has used since the run began
  (`kernel_memory()`: /proc/meminfo's Slab, KernelStack and PageTables).

What "served N concurrent connections" means here: every one of the N
connections sends its own message, gets exactly that message back, and stays
open until all N have their echo, so that the server held all N at once.
A run gives up when nothing moves for `stall` seconds (the server is stuck)
or after `time_limit` seconds; the result says which.

Both processes raise their soft RLIMIT_NOFILE to the hard limit; a run that
would need more descriptors than that is not started, and its result says so.
"""

from __future__ import annotations

import argparse
import errno
import json
import os
import selectors
import socket
import subprocess
import sys
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from ..core.addresses import family_for
from ..core.checks import (check_choice, check_loopback_host, check_path, check_port, check_seconds, check_target,
                           check_whole)
from ..core.errors import ArgumentError, ArgumentTypeError, IncompleteMessage, MissingFileError, SockcourseError
from ..core.sockets import recv_exactly
from ..peers.process import end_process, read_line
from ..servers.models import MODELS

try:
    import resource
except ImportError:  # Windows has no RLIMIT_NOFILE; the course runs on POSIX systems
    resource = None

#: The models in the order the course shows them: the names of sockcourse.models.MODELS.
MODEL_NAMES = tuple(MODELS)

#: The counts of the full benchmark, and a quick set for notebooks and tests.
FULL_COUNTS = (1, 10, 100, 1000, 3000, 10000)
QUICK_COUNTS = (1, 10, 100)

#: Descriptors a process needs besides its connections (stdio, pipes, the listener, epoll, ...).
SPARE_FDS = 64

#: The full many-clients run shipped with the course, which chapter 04 draws. `bench --save PATH`
#: writes the same kind of file wherever a learner names; the maintainers regenerate this one with
#: `python -m sockcourse bench --save sockcourse/bench/measured.json`.
MEASURED = Path(__file__).with_name("measured.json")

#: Connections that may be on their way at once (connecting, or waiting for their
#: echo). The server's accept queue (sockcourse.models.BACKLOG) is larger, so it
#: never overflows: an overflow would turn into 1-second SYN retries that measure nothing.
MAX_IN_FLIGHT = 256

#: Caps that keep every run finite whatever the arguments say.
MAX_CLIENTS = 100_000
MAX_SIZE = 1 << 20

#: Seconds the server process may take to say where it listens.
START_TIMEOUT = 20.0

#: Seconds the server process gets to end once its clients have left; then it is killed.
SERVER_END_TIMEOUT = 5.0

#: How often the server process is sampled while the clients run, in seconds.
SAMPLE_EVERY = 0.01


class ManyClientsError(SockcourseError):
    """A measurement could not be made (a process failed to start or to report)."""


# -- descriptor limits -------------------------------------------------------------
def raise_fd_limit() -> tuple[int | None, int | None]:
    """Raise this process's soft RLIMIT_NOFILE to its hard limit; return (soft, hard) afterwards."""
    if resource is None:
        return None, None
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY:
        hard_value = 1 << 20  # an "unlimited" hard limit still meets the kernel's nr_open
    else:
        hard_value = hard
    if soft != resource.RLIM_INFINITY and soft < hard_value:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard_value, hard))
        except (ValueError, OSError):
            pass  # macOS refuses values above kern.maxfilesperproc; keep what we have
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    return soft, hard


def fd_limit() -> tuple[int | None, int | None]:
    """(soft, hard) RLIMIT_NOFILE of this process, or (None, None) where there is none."""
    if resource is None:
        return None, None
    return resource.getrlimit(resource.RLIMIT_NOFILE)


# -- the clients process -------------------------------------------------------------
def message_for(index: int, size: int) -> bytes:
    """The bytes connection `index` sends: its own number first, so a mixed-up echo shows."""
    head = f"{index:08d}:".encode()
    body = bytes(33 + (index + i) % 94 for i in range(max(0, size - len(head))))
    return (head + body)[:size]


class _Conn:
    __slots__ = ("sock", "index", "message", "sent", "got", "state")

    def __init__(self, sock, index, message):
        self.sock, self.index, self.message = sock, index, message
        self.sent, self.got, self.state = 0, bytearray(), "connecting"


class _Clients:
    """The clients' side of one run: every connection a small state machine on one selector.

    connecting -> sending -> receiving -> done, or failed at any step.
    """

    def __init__(self, address, family, report: dict):
        self.address, self.family, self.report = address, family, report
        self.selector = selectors.DefaultSelector()
        self.conns: list[_Conn] = []
        self.finished = 0  # done or failed

    def open_one(self, size: int) -> bool:
        """Start one more connection; False if no socket can be had."""
        index = len(self.conns)
        try:
            sock = socket.socket(self.family, socket.SOCK_STREAM)
        except OSError as exc:
            self.report["gave_up"] = (f"could not open socket #{index + 1}: {exc.strerror or exc} "
                                      f"(the clients' RLIMIT_NOFILE is {self.report['fd_limit']})")
            return False
        sock.setblocking(False)
        conn = _Conn(sock, index, message_for(index, size))
        self.conns.append(conn)
        code = sock.connect_ex(self.address)
        if code in (0, errno.EINPROGRESS, errno.EAGAIN):
            self.selector.register(sock, selectors.EVENT_WRITE, conn)
        else:
            self.fail(conn, errno.errorcode.get(code, str(code)))
        return True

    def fail(self, conn: _Conn, reason: str) -> None:
        if conn.state in ("done", "failed"):
            return
        try:
            self.selector.unregister(conn.sock)
        except (KeyError, ValueError):
            pass
        conn.state = "failed"
        self.finished += 1
        failed = self.report["failed"]
        failed[reason] = failed.get(reason, 0) + 1

    def step(self, conn: _Conn, events: int) -> None:
        sock = conn.sock
        try:
            if conn.state == "connecting":
                code = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                if code:
                    self.fail(conn, errno.errorcode.get(code, str(code)))
                    return
                conn.state = "sending"
                self.report["connected"] += 1
            if conn.state == "sending":
                conn.sent += sock.send(conn.message[conn.sent:])
                if conn.sent < len(conn.message):
                    return  # the rest when the socket is writable again
                conn.state = "receiving"
                self.selector.modify(sock, selectors.EVENT_READ, conn)
            elif conn.state == "receiving" and events & selectors.EVENT_READ:
                data = sock.recv(len(conn.message) - len(conn.got))
                if not data:
                    self.fail(conn, "closed by the server before the whole echo")
                    return
                conn.got += data
                if len(conn.got) == len(conn.message):
                    # Kept open, unwatched: it closes when every echo is in.
                    self.selector.unregister(sock)
                    conn.state = "done"
                    self.finished += 1
                    self.report["echoed" if conn.got == conn.message else "wrong"] += 1
        except (BlockingIOError, InterruptedError):
            pass
        except OSError as exc:
            self.fail(conn, errno.errorcode.get(exc.errno, type(exc).__name__) if exc.errno else type(exc).__name__)

    def close(self) -> None:
        self.selector.close()
        for conn in self.conns:
            conn.sock.close()


def drive(host: str, port: int, clients: int, *, size: int = 64, stall: float = 3.0,
          time_limit: float = 60.0, in_flight: int = MAX_IN_FLIGHT, barrier=None) -> dict:
    """Open `clients` connections to (host, port) from this one thread and check every echo.

    Returns a report (plain data): how many connected, came back right, came
    back wrong or failed (by reason), the seconds until every echo was in,
    and why the run gave up, if it did. No connection closes before every
    echo is in (or the run gives up); `barrier()`, if given, is called at
    that moment, before any connection closes. Only loopback hosts are
    taken: the clients never reach another machine.
    """
    host, port = check_target((host, port), "server")
    clients = _check_count(clients)
    size = _check_size(size)
    stall = check_seconds(stall, "stall", none_ok=False, example=3.0)
    time_limit = check_seconds(time_limit, "time_limit", none_ok=False, example=60.0)
    in_flight = check_whole(in_flight, "in_flight", low=1, high=MAX_CLIENTS, example=MAX_IN_FLIGHT)
    if barrier is not None and not callable(barrier):
        raise ArgumentTypeError(f"barrier must be a function to call once every echo is in, or None, but got "
                                f"{barrier!r}.")
    family = family_for(host)
    report = {"clients": clients, "size": size, "connected": 0, "echoed": 0, "wrong": 0,
              "failed": {}, "seconds": None, "connect_seconds": None, "gave_up": None,
              "fd_limit": list(fd_limit())}
    run = _Clients((host, port), family, report)
    started = last_progress = time.perf_counter()
    try:
        while run.finished < clients:
            while len(run.conns) < clients and len(run.conns) - run.finished < in_flight:
                if not run.open_one(size):
                    break
            now = time.perf_counter()
            if report["gave_up"]:
                break
            if now - started > time_limit:
                report["gave_up"] = f"the time limit of {time_limit} s ran out"
                break
            if now - last_progress > stall:
                report["gave_up"] = (f"nothing moved for {stall} s, with {clients - run.finished} of "
                                     f"{clients} connections still waiting for the server")
                break
            for key, events in run.selector.select(timeout=min(0.05, stall)):
                last_progress = time.perf_counter()
                run.step(key.data, events)
            if report["connect_seconds"] is None and report["connected"] == clients:
                report["connect_seconds"] = time.perf_counter() - started
        if report["echoed"] == clients:
            report["seconds"] = time.perf_counter() - started
        if barrier is not None:
            barrier()
    finally:
        run.close()
    report["elapsed"] = time.perf_counter() - started
    return report


# -- the measuring process ----------------------------------------------------------
@dataclass
class Run:
    """One model against one number of concurrent connections, as plain data."""

    model: str
    clients: int
    ok: bool = False                 # every connection got exactly its own message back
    echoed: int = 0                  # connections whose echo came back right
    wrong: int = 0                   # echoes that came back changed
    failed: dict = field(default_factory=dict)  # failed connections by reason (ECONNRESET, ...)
    seconds: float | None = None     # from the first connect until every echo was in
    connect_seconds: float | None = None
    memory_mib: float | None = None  # how much the server's resident memory (user space) grew, at its peak
    kernel_mib: float | None = None  # how much kernel memory grew, both ends of every connection (kernel_memory())
    threads: int | None = None       # the most threads the server process had
    held: int | None = None          # connections the server process held open at the end
    gave_up: str | None = None       # why the clients stopped waiting, if they did
    note: str | None = None          # a limit that capped the run, or why it was not run
    server_error: str | None = None  # what the server process said on stderr when it failed

    def as_dict(self) -> dict:
        return asdict(self)


def _check_count(clients) -> int:
    return check_whole(clients, "number of clients", low=1, high=MAX_CLIENTS, hint="for example clients=100")


def _check_model(model) -> str:
    return check_choice(model, "model", MODEL_NAMES, example="asyncio")


def _check_size(size) -> int:
    return check_whole(size, "message size in bytes", low=1, high=MAX_SIZE, hint="for example size=64")


def _module_command(*args) -> list[str]:
    return [sys.executable, "-m", "sockcourse.bench.manyclients", *map(str, args)]


def _child_env() -> dict:
    # The children import this very package, wherever it was imported from.
    env = dict(os.environ)
    root = str(Path(__file__).resolve().parents[2])
    env["PYTHONPATH"] = root + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    return env


#: The lines of /proc/meminfo that kernel_memory() adds up (proc(5)): the kernel's
#: own objects (sockets, files, epoll entries: "Slab"), the stacks of threads
#: ("KernelStack") and the page tables of processes ("PageTables").
KERNEL_MEMINFO = ("Slab", "KernelStack", "PageTables")


def kernel_memory() -> dict | None:
    """The kernel's memory in KiB, as /proc/meminfo and /proc/net/sockstat report it; None off Linux.

    Keys: the KERNEL_MEMINFO lines, their sum as "total", and "tcp_buffers":
    the TCP line of /proc/net/sockstat, whose `mem` counts the pages that TCP
    sockets hold for data in their buffers (the kernel's tcp_memory_allocated).
    Every figure is machine-wide: it moves with whatever else the machine
    does, so only a difference across many connections says much.
    """
    try:
        with open("/proc/meminfo", encoding="ascii") as source:
            lines = dict(line.split(":", 1) for line in source if ":" in line)
        with open("/proc/net/sockstat", encoding="ascii") as source:
            tcp = next((line.split()[1:] for line in source if line.startswith("TCP:")), [])
    except OSError:
        return None  # not Linux
    found = {name: int(lines[name].split()[0]) for name in KERNEL_MEMINFO if name in lines}
    if not found:
        return None
    found["total"] = sum(found.values())
    fields = dict(zip(tcp[::2], tcp[1::2]))
    page_kib = (os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096) // 1024
    found["tcp_buffers"] = int(fields["mem"]) * page_kib if "mem" in fields else None
    return found


#: The TCP states of a connection its server still holds: it has not closed its end yet.
_HELD_STATES = (0x01, 0x08)  # ESTABLISHED, CLOSE_WAIT (include/net/tcp_states.h)
_LISTEN = 0x0A


class _Sampler:
    """The server process's memory and threads (psutil), and what the kernel says about its port."""

    def __init__(self, pid: int, port: int):
        import psutil  # only the measuring side needs it
        self.process = psutil.Process(pid)
        self.port = port
        self.base_rss = self.peak_rss = self.process.memory_info().rss
        self.peak_threads = self.process.num_threads()
        self.base_fds = self._fds()
        self.base_kernel = kernel_memory()

    def _fds(self) -> int | None:
        try:
            return self.process.num_fds()
        except (AttributeError, OSError):
            return None  # Windows has handles, not descriptors

    def sample(self) -> None:
        try:
            with self.process.oneshot():
                self.peak_rss = max(self.peak_rss, self.process.memory_info().rss)
                self.peak_threads = max(self.peak_threads, self.process.num_threads())
        except Exception:
            pass  # the server is ending; its peak is already known

    def kernel_growth_mib(self) -> float | None:
        """How much kernel memory (kernel_memory()["total"]) grew since the sampler was made, in MiB."""
        now = kernel_memory()
        if now is None or self.base_kernel is None:
            return None
        return (now["total"] - self.base_kernel["total"]) / 1024

    def held(self) -> int | None:
        """Connections the server holds open now, as the kernel counts them.

        Asked through sock_diag for the server's port alone, so the cost follows
        this run's connections, not the machine's table (after a benchmark it
        holds tens of thousands of TIME_WAIT rows): the connections on the
        server's port that are still open at its end, less those that wait in
        its accept queue, which the server has not taken yet. Where sock_diag
        is missing, psutil lists the process's own sockets instead.
        """
        try:
            from ..kernel import diag
            rows = diag.tcp_sockets({self.port}, states={*_HELD_STATES, _LISTEN})  # not the TIME_WAIT rows
        except OSError:
            return self._held_by_psutil()
        waiting = sum(rqueue for _, state, local, _, rqueue in rows if state == _LISTEN and local[1] == self.port)
        open_here = sum(1 for _, state, local, remote, _ in rows
                        if state in _HELD_STATES and local[1] == self.port and remote[1])
        return max(0, open_here - waiting)

    def _held_by_psutil(self) -> int | None:
        try:
            own = getattr(self.process, "net_connections", None) or self.process.connections
            return sum(1 for conn in own(kind="tcp") if conn.status != "LISTEN" and conn.raddr)
        except Exception:  # noqa: BLE001 - macOS may refuse: fall back to counting descriptors
            fds = self._fds()
            return None if fds is None or self.base_fds is None else max(0, fds - self.base_fds)


def measure(model: str, clients: int, *, size: int = 64, stall: float = 3.0, time_limit: float = 60.0,
            host: str = "127.0.0.1") -> Run:
    """Serve `clients` concurrent connections with `model` (server and clients in processes of their own).

    Returns a Run; a run that fails (stuck, refused, wrong bytes) is a result
    too, with `ok` False and the reason in `gave_up` or `failed`.
    """
    model, clients = _check_model(model), _check_count(clients)
    size, stall, time_limit, host = _check_options(size=size, stall=stall, time_limit=time_limit, host=host)
    with _ClientsProcess(host) as helper:
        run, finish = _measure_with(helper, model, clients, size, stall, time_limit, host)
        finish()
    return run


def _check_options(*, size: int = 64, stall: float = 3.0, time_limit: float = 60.0,
                   host: str = "127.0.0.1") -> tuple:
    return (_check_size(size), check_seconds(stall, "stall", none_ok=False, example=3.0),
            check_seconds(time_limit, "time_limit", none_ok=False, example=60.0), check_loopback_host(host))


class _ClientsProcess:
    """The clients process of one or more runs: it reads one job a line on stdin, and drives it.

    A sweep keeps one for all its runs, so that each run starts one new
    process (the server's) instead of two; a run that goes wrong ends it, and
    the next run gets a fresh one.
    """

    def __init__(self, host: str):
        self.host = host
        self.process: subprocess.Popen | None = None

    def ready(self) -> subprocess.Popen:
        """The process, started now if there is none (or the last one has ended)."""
        if self.process is None or self.process.poll() is not None:
            self.close()
            self.process = subprocess.Popen(_module_command("clients", "--host", self.host, "--jobs"),
                                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                            env=_child_env())
        return self.process

    def close(self) -> str:
        """End the process (its stdin first: it exits between jobs); what it said on stderr."""
        process, self.process = self.process, None
        return end_process(process, 10.0) if process is not None else ""

    def __enter__(self) -> _ClientsProcess:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _measure_with(helper: _ClientsProcess, model: str, clients: int, size: int, stall: float, time_limit: float,
                  host: str, settle=None) -> tuple:
    """One run of measure(), its arguments checked, with the clients driven by `helper`: (run, finish).

    finish() waits for the run's server process to end and adds what its
    ending said (`server_error`); until then the server may still be winding
    down. settle(), if given, is called once this run's server process has
    started and before anything is measured: a sweep waits there for the
    previous run's server to end, while this one starts.
    """
    run = Run(model, clients)
    _, hard = fd_limit()  # the children inherit the hard limit, and raise their soft one to it
    if hard is not None and hard != getattr(resource, "RLIM_INFINITY", -1) and clients + SPARE_FDS > hard:
        if settle is not None:
            settle()
        run.note = (f"not run: {clients:,} connections need about {clients + SPARE_FDS:,} descriptors in each "
                    f"process, but the hard RLIMIT_NOFILE is {hard:,}")
        return run, lambda: None

    server = subprocess.Popen(_module_command("server", model, "--host", host, "--time-limit", time_limit + 30),
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              env=_child_env())
    ended = []

    def finish() -> None:
        if ended:
            return
        ended.append(True)
        # The server process stops when its stdin ends, which end_process closes first.
        said = end_process(server, SERVER_END_TIMEOUT)
        if server.returncode and server.returncode < 0:
            run.server_error = (f"the server process had not ended {SERVER_END_TIMEOUT} s after its clients "
                                f"left, and was killed")
        elif server.returncode:
            run.server_error = said[-600:] or f"the server process ended with exit code {server.returncode}"

    report, client_said = None, ""
    try:
        # The clients process starts (if it is new) while the server does: each takes a
        # quarter of a second to import Python and the course; it waits on stdin for a job.
        client = helper.ready()
        if settle is not None:
            settle()
        try:
            line = read_line(server, START_TIMEOUT)
        except EOFError:
            line = None
        if line is None:
            raise ManyClientsError(f"The {model} server process did not say where it listens within "
                                   f"{START_TIMEOUT} s; {end_process(server, 5.0) or 'it printed nothing'}")
        port = json.loads(line)["port"]
        sampler = _Sampler(server.pid, port)  # before any client connects: the server's resting state
        job = {"port": port, "clients": clients, "size": size, "stall": stall, "time_limit": time_limit}
        try:
            client.stdin.write((json.dumps(job) + "\n").encode())
            client.stdin.flush()
        except OSError:
            pass  # it has died; _follow_clients finds no report, and the run says so
        report = _follow_clients(client, sampler, time_limit + stall + START_TIMEOUT)
        if report is not None:
            run.held = report.pop("held_by_server", None)
            run.kernel_mib = report.pop("kernel_mib", None)
    except BaseException:
        helper.close()
        finish()
        raise
    finally:
        # Told now, the server winds down while the report is read (and, in a sweep, while
        # the next run's server starts); a clients process that sent no report is ended too,
        # and the next run gets a new one.
        try:
            server.stdin.close()
        except OSError:
            pass  # it died with our bytes unread; end_process sees to it
    if report is None:
        client_said = helper.close()
        finish()
        run.gave_up = f"the clients process reported nothing ({client_said[-300:] or 'no message'})"
        return run, finish
    for key in ("echoed", "wrong", "failed", "seconds", "connect_seconds", "gave_up"):
        setattr(run, key, report.get(key))
    run.memory_mib = (sampler.peak_rss - sampler.base_rss) / 2**20
    run.threads = sampler.peak_threads
    # A server that served everyone right but was slow to exit still served them;
    # `server_error` says so beside the result.
    run.ok = run.echoed == clients and not run.wrong and not run.failed
    limit = report.get("fd_limit") or [None, None]
    if not run.ok and limit[0] and clients + SPARE_FDS > limit[0]:
        run.note = f"the clients' soft RLIMIT_NOFILE ({limit[0]:,}) is too small for {clients:,} connections"
    return run, finish


def _follow_clients(client: subprocess.Popen, sampler: _Sampler, timeout: float) -> dict | None:
    """Sample the server while the clients work; at their barrier, count what the server holds."""
    deadline = time.monotonic() + timeout
    held = kernel = None
    while time.monotonic() < deadline:
        sampler.sample()
        try:
            line = read_line(client, SAMPLE_EVERY)
        except EOFError:
            return None  # the clients process ended without its report
        if line is None:
            continue
        try:
            message = json.loads(line)
        except ValueError:
            continue  # not one of ours (a warning printed by Python, say)
        if message.get("event") == "held":
            # Every echo is in and no connection has closed yet: the server's peak.
            sampler.sample()
            held = sampler.held()
            kernel = sampler.kernel_growth_mib()
            client.stdin.write(b"go\n")
            client.stdin.flush()
        elif message.get("event") == "report":
            message["held_by_server"] = held
            message["kernel_mib"] = kernel
            return message
    return None


def sweep(models=MODEL_NAMES, counts=QUICK_COUNTS, *, progress=None, **options) -> list[Run]:
    """`measure` each model at each count, smallest first; a model that fails is not tried higher.

    One clients process drives every run, and each run's server process
    starts while the last one's ends; nothing is measured before that one
    has ended, so no run shares the machine with another.
    progress: called as progress(model, clients, run) before each run (run is
    None) and after it, for a progress display.
    """
    models = [_check_model(m) for m in ((models,) if isinstance(models, str) else models)]
    counts = sorted({_check_count(c) for c in ((counts,) if isinstance(counts, int) else counts)})
    size, stall, time_limit, host = _check_options(**options)
    runs = []
    pending = []  # the last run and its finish(): its server may still be ending

    def settled() -> None:
        """Wait for the last run's server to end; only then is that run complete (and reported)."""
        while pending:
            run, finish = pending.pop()
            finish()
            if progress:
                progress(run.model, run.clients, run)

    try:
        with _ClientsProcess(host) as helper:
            for model in models:
                for clients in counts:
                    def settle(model=model, clients=clients) -> None:
                        # This run's server is starting: the last one ends meanwhile.
                        settled()
                        if progress:
                            progress(model, clients, None)

                    run, finish = _measure_with(helper, model, clients, size, stall, time_limit, host,
                                                settle=settle)
                    runs.append(run)
                    pending.append((run, finish))
                    if not run.ok:
                        break  # more clients would fail too, only slower
            settled()
    finally:
        for _, finish in pending:  # after an error: no server is left behind
            finish()
    return runs


def max_clients(runs: list[Run]) -> dict:
    """The largest number of concurrent connections each model served with every echo right (0: none)."""
    best = {}
    for run in runs:
        best.setdefault(run.model, 0)
        if run.ok:
            best[run.model] = max(best[run.model], run.clients)
    return best


def _check_path(path, doing: str) -> str:
    return check_path(path, f"file to {doing}", example="'runs.json'")


def save(runs: list[Run], path, **about) -> None:
    """Write runs (and what machine made them) to a JSON file."""
    path = _check_path(path, "save to")
    if isinstance(runs, (str, bytes)) or not all(isinstance(run, Run) for run in runs):
        raise ArgumentTypeError(f"save() takes a list of manyclients.Run, as sweep() returns, but got {runs!r:.80}; "
                                f"for example save(manyclients.sweep(...), 'runs.json').")
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise MissingFileError(f"Cannot save to {path!r}: the folder {folder!r} does not exist; make it first "
                               f"(os.makedirs) or pick a path in an existing folder.")
    try:
        text = json.dumps({"about": about, "runs": [run.as_dict() for run in runs]}, indent=1) + "\n"
    except (TypeError, ValueError) as exc:
        raise ArgumentTypeError(f"What save() should write about the runs cannot be written as JSON ({exc}); "
                                f"pass plain values (text, numbers, lists, dicts) as keywords.") from None
    try:
        with open(path, "w", encoding="utf-8") as out:
            out.write(text)
    except OSError as exc:
        raise ArgumentError(f"Cannot save to {path!r}: {exc.strerror or exc}; pick a file you may write.") from None


def load(path) -> tuple[list[Run], dict]:
    """Read runs written by save(); returns (runs, about)."""
    path = _check_path(path, "load")
    try:
        with open(path, encoding="utf-8") as source:
            data = json.load(source)
    except FileNotFoundError:
        raise MissingFileError(f"There is no file {path!r} to load runs from; check the path, or load the "
                               f"course's own results: manyclients.load(manyclients.MEASURED).") from None
    except (UnicodeDecodeError, ValueError) as exc:
        raise ArgumentError(f"The file {path!r} is not JSON ({exc}); load reads what manyclients.save() "
                            f"wrote.") from None
    except OSError as exc:
        raise ArgumentError(f"Cannot read {path!r}: {exc.strerror or exc}.") from None
    try:
        runs = [Run(**row) for row in data["runs"]]
        about = data.get("about", {})
    except (TypeError, KeyError, AttributeError):
        raise ArgumentError(f"The file {path!r} is JSON, but not runs written by manyclients.save() "
                            f"(it needs a list 'runs' of measurements); load reads what save() wrote.") from None
    return runs, about


# -- who waits for whom: a few clients against a model in this process ---------------------
def waiting_times(model, clients: int = 5, *, slow: float = 0.3, size: int = 32) -> list[dict]:
    """Client 0 connects first and says nothing for `slow` seconds; the others then ask at once.

    Returns, for each client, when it connected, when its echo came back and
    whether it was the slow one (seconds from the start). The model runs in
    this process (sockcourse.models.start), the clients on threads.
    """
    from ..servers import models

    clients = _check_count(clients)
    slow = check_seconds(slow, "slow", none_ok=False, example=0.3)
    size = _check_size(size)
    rows = [{"client": i, "slow": i == 0, "connected": None, "answered": None, "ok": False}
            for i in range(clients)]
    errors = []
    with models.start(model) as server:
        started = time.perf_counter()
        slow_connected = threading.Event()

        def one(i: int) -> None:
            try:
                if i:
                    slow_connected.wait(5.0)  # the slow client is first in the queue
                with socket.create_connection(server.address, timeout=10) as sock:
                    rows[i]["connected"] = time.perf_counter() - started
                    if i == 0:
                        slow_connected.set()
                        time.sleep(slow)  # connected, silent: what a slow network looks like
                    message = message_for(i, size)
                    sock.sendall(message)
                    try:
                        got = recv_exactly(sock, size, what="echo")
                    except IncompleteMessage as short:
                        got = short.partial  # a short echo: not ok, and the row says so
                    rows[i]["answered"] = time.perf_counter() - started
                    rows[i]["ok"] = got == message
            except OSError as exc:
                errors.append(exc)
                slow_connected.set()

        workers = [threading.Thread(target=one, args=(i,), name=f"sockcourse-client-{i}") for i in range(clients)]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join(slow * clients + 10.0)
    if errors:
        raise ManyClientsError(f"{len(errors)} of the {clients} clients failed; the first: {errors[0]}")
    return rows


# -- the two child processes ------------------------------------------------------------
def _serve_main(args) -> int:
    from ..servers import models  # only the server process needs the models (and asyncio)
    from ..core.errors import HandlerError

    raise_fd_limit()
    deadline = time.monotonic() + args.time_limit
    try:
        with models.start(args.model, host=args.host) as server, selectors.DefaultSelector() as selector:
            # The measuring process closes our stdin to stop us (and so does its death).
            # The selector exists before we speak, so the measuring side's count of our
            # descriptors, taken after this line, includes it.
            selector.register(sys.stdin.buffer, selectors.EVENT_READ)
            print(json.dumps({"port": server.port, "pid": os.getpid()}), flush=True)
            while time.monotonic() < deadline:
                if selector.select(timeout=0.5) and not os.read(sys.stdin.fileno(), 4096):
                    break
    except HandlerError as exc:
        print(f"manyclients server: {exc} (cause: {exc.__cause__!r})", file=sys.stderr, flush=True)
        return 1
    return 0


def _stdin_line(timeout: float, what: str, longest: int = 4096) -> bytes | None:
    """One line from stdin, as the measuring process writes it; None if stdin ends first (between lines)."""
    line = b""
    deadline = time.monotonic() + timeout
    with selectors.DefaultSelector() as selector:
        selector.register(sys.stdin.buffer, selectors.EVENT_READ)
        # Byte by byte, so nothing after the newline (the barrier's "go", the next job) is read ahead.
        while not line.endswith(b"\n"):
            if len(line) > longest:
                raise SystemExit(f"manyclients clients: {what} longer than {longest} bytes arrived on stdin")
            if not selector.select(timeout=max(0.0, deadline - time.monotonic())):
                raise SystemExit(f"manyclients clients: no {what} arrived on stdin within {timeout} s")
            byte = os.read(sys.stdin.fileno(), 1)
            if not byte:
                if line:
                    raise SystemExit(f"manyclients clients: stdin ended in the middle of a {what}")
                return None
            line += byte
    return line


def _port_from_stdin(timeout: float) -> int:
    """The server's port, as the measuring process writes it on our stdin once the server listens."""
    line = _stdin_line(timeout, "port", longest=16)
    if line is None:
        raise SystemExit("manyclients clients: stdin ended before a port arrived")
    return check_port(int(line))


def _barrier() -> None:
    """Every echo is in: say so, and wait (a while at most) until the measuring side has counted."""
    print(json.dumps({"event": "held"}), flush=True)
    try:
        _stdin_line(10.0, "go")  # the measuring side counts the server's sockets meanwhile
    except SystemExit:
        pass  # no answer in time: close the connections all the same, and report


def _clients_main(args) -> int:
    raise_fd_limit()
    if args.jobs:
        return _jobs(args.host)
    if args.port == "-":
        args.port = _port_from_stdin(START_TIMEOUT)
    report = drive(args.host, args.port, args.clients, size=args.size, stall=args.stall,
                   time_limit=args.time_limit, barrier=_barrier)
    print(json.dumps({"event": "report", **report}), flush=True)
    return 0


#: The most runs one clients process drives, and the seconds it waits for the next before it ends.
MAX_JOBS = 10_000
JOB_WAIT = 600.0


def _jobs(host: str) -> int:
    """Drive one run for each job line on stdin, {"port", "clients", "size", "stall", "time_limit"}, until it ends."""
    for _ in range(MAX_JOBS):
        line = _stdin_line(JOB_WAIT, "job")
        if line is None:
            return 0  # the measuring side has no more runs for us
        try:
            job = json.loads(line)
            report = drive(host, job["port"], job["clients"], size=job["size"], stall=job["stall"],
                           time_limit=job["time_limit"], barrier=_barrier)
        except (ValueError, KeyError, TypeError) as exc:
            raise SystemExit(f"manyclients clients: a job this process cannot run ({exc}): {line[:200]!r}") from None
        print(json.dumps({"event": "report", **report}), flush=True)
    return 0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m sockcourse.bench.manyclients",
                                     description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="role", required=True)
    server = sub.add_parser("server", help="run one server model until stdin ends")
    server.add_argument("model", choices=MODEL_NAMES)
    server.add_argument("--host", default="127.0.0.1", type=check_loopback_host)
    server.add_argument("--time-limit", type=float, default=600.0)
    server.set_defaults(run=_serve_main)
    clients = sub.add_parser("clients", help="open many connections and check every echo")
    clients.add_argument("--host", default="127.0.0.1", type=check_loopback_host)
    job = clients.add_mutually_exclusive_group(required=True)
    job.add_argument("--port", help="the server's port, or - to read it from stdin")
    job.add_argument("--jobs", action="store_true",
                     help="drive one run per line of JSON on stdin (port, clients, size, stall, time_limit)")
    clients.add_argument("--clients", type=int, default=1)
    clients.add_argument("--size", type=int, default=64)
    clients.add_argument("--stall", type=float, default=3.0)
    clients.add_argument("--time-limit", type=float, default=60.0)
    clients.set_defaults(run=_clients_main)
    args = parser.parse_args(argv)
    if args.role == "clients" and not args.jobs:
        if args.port != "-":
            args.port = check_port(int(args.port)) if args.port.isdigit() else check_port(args.port)
        _check_count(args.clients)
    return args.run(args)


if __name__ == "__main__":
    sys.exit(main())
