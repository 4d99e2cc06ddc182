"""Fixtures shared by the package's tests: no server may outlive its test.

A test that forgets a server would leave a thread and a port behind for the
tests after it, and the failure would show up far from its cause; the autouse
fixture below makes it fail in the test that leaked, and cleans up so the rest
of the run is unaffected.
"""

from __future__ import annotations

import ipaddress
import os
import shutil
import socket
import sys
import tempfile
import threading
import time

import matplotlib
import pytest

import sockcourse
from sockcourse import registry
from sockcourse.core import sockets
from sockcourse.core.addresses import ipv6_loopback
from sockcourse.core.errors import IncompleteMessage


def _loopback_only(event: str, args: tuple) -> None:
    """An audit hook that stops any connect, send or name lookup towards another machine.

    The tests that check refusals of other hosts (8.8.8.8, 10.0.0.1, example.com)
    expect the course to refuse before any socket exists; if a check ever
    regressed, this hook raises before a single packet leaves, instead of
    sending traffic this machine must never send. (Child processes are not
    covered; the course checks their hosts before it starts them.)
    """
    if event in ("socket.connect", "socket.sendto", "socket.sendmsg"):
        sock, address = args[0], args[1]
        if sock.family in (socket.AF_INET, socket.AF_INET6) and isinstance(address, tuple):
            _refuse_unless_loopback(address[0], event)
    elif event == "socket.getaddrinfo":
        _refuse_unless_loopback(args[0], event)


#: Loopback addresses a test forbids on purpose, to see the guard work without
#: ever aiming at another machine (tests/test_lifecycle.py).
FORBIDDEN_FOR_TEST: set = set()


def _refuse_unless_loopback(host, event: str) -> None:
    if host in (None, "", b"", "localhost", b"localhost"):
        return
    name = host.decode() if isinstance(host, bytes) else str(host)
    try:
        loopback = ipaddress.ip_address(name.strip("[]").split("%")[0]).is_loopback
    except ValueError:
        loopback = False  # a name to resolve: a DNS query would leave the machine
    if not loopback or name in FORBIDDEN_FOR_TEST:
        raise RuntimeError(f"tests/conftest.py blocked {event} to {host!r}: the tests talk to loopback only.")


sys.addaudithook(_loopback_only)


def socket_fds() -> int:
    """How many sockets this process holds open (0 where /proc is missing)."""
    count = 0
    for name in os.listdir("/proc/self/fd") if os.path.isdir("/proc/self/fd") else ():
        try:
            count += os.readlink(f"/proc/self/fd/{name}").startswith("socket:")
        except FileNotFoundError:
            pass  # the descriptor listdir() itself used, closed by now
    return count


@pytest.fixture
def nothing_left_behind():
    """After the test: no new thread still alive (each gets 5 s to end), nothing running, no socket more.

    Modules of experiments use it for every test with
    `pytestmark = pytest.mark.usefixtures("nothing_left_behind")`.
    """
    threads, fds = {t.ident for t in threading.enumerate()}, socket_fds()
    yield
    left = [t for t in threading.enumerate() if t.ident not in threads and t.is_alive()]
    for thread in left:
        thread.join(5)
    assert not [t.name for t in left if t.is_alive()], "an experiment left a thread running"
    assert sockcourse.running() == []
    assert socket_fds() <= fds, "an experiment left a socket open"


@pytest.fixture(autouse=True)
def no_server_left_running():
    yield
    leftovers = registry.running()
    if leftovers:
        try:
            sockcourse.stop_all()
        except Exception:
            pass  # the leak is the failure to report; a handler error would hide it
        pytest.fail(f"The test left {len(leftovers)} server(s) running: {leftovers!r}; "
                    f"use `with serve(...)` or call stop() in the test.", pytrace=False)


# Pictures are drawn without a window and alike on every machine: the backend
# is chosen here, before any test module imports pyplot. (Not through the
# MPLBACKEND variable: the notebooks' kernels would inherit it and lose their
# inline figures.)
matplotlib.use("Agg")


@pytest.fixture(autouse=True)
def close_figures():
    """Every figure a test drew is closed after it, so hundreds of them never pile up."""
    yield
    pyplot = sys.modules.get("matplotlib.pyplot")  # only if a test drew at all
    if pyplot is not None:
        pyplot.close("all")


@pytest.fixture
def ca():
    """A throw-away certificate authority, closed (its folder and key gone) after the test."""
    from sockcourse import tls  # only here: trustme and cryptography load for TLS tests alone

    with tls.CertificateAuthority() as authority:
        yield authority


@pytest.fixture
def short_tmp():
    """A private directory with a short path: pytest's tmp_path can be too long for sun_path."""
    path = tempfile.mkdtemp(prefix="sct-")
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def ipv6_loopback_available() -> bool:
    return ipv6_loopback()


def server_threads(server) -> list[threading.Thread]:
    """The live threads a server started (its loop and its connection threads)."""
    prefix = f"sockcourse-{server.name}-"
    return [t for t in threading.enumerate() if t.name.startswith(prefix)]


def wait_for(predicate, timeout: float = 2.0, what: str = "the condition"):
    """Poll `predicate` until it is true, or fail the test after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            pytest.fail(f"Waited {timeout} s for {what}, in vain.", pytrace=False)
        time.sleep(0.005)


def recv_exactly(sock: socket.socket, size: int) -> bytes:
    """Read `size` bytes, or what came before the peer closed (the socket's own timeout bounds each wait).

    A test client wants to see a short answer, so the course's own
    recv_exactly is used and a partial message is handed back, not raised.
    """
    try:
        return sockets.recv_exactly(sock, size)
    except IncompleteMessage as short:
        return short.partial
