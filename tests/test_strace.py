"""Tests of sockcourse.peers.strace: real programs traced by the real strace, and the parser on what it wrote.

Nothing here is canned: every trace the parser reads was written by strace
during the test, from the course's C echo server, from Python clients and
servers, and from a program that forks, so that one process sits in a
blocking accept() while the other connects and strace has to write calls in
two halves (`<unfinished ...>` ... `<... accept4 resumed>`). The only fake
is a shell script called strace that says what a container without ptrace
says, to see unavailable() tell it apart. Where strace cannot trace, the
tests that need it skip with unavailable()'s sentence.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import textwrap

import psutil
import pytest

from sockcourse.core.errors import ArgumentError, ArgumentTypeError, PeerError, TimeLimitError, UsageError
from sockcourse.peers import strace, toolchains

pytestmark = pytest.mark.timeout(120)

_WHY = strace.unavailable()
needs_strace = pytest.mark.skipif(_WHY is not None, reason=_WHY or "")

#: A Python client of an echo server: two messages, then its half-close, then the end of the stream.
CLIENT = textwrap.dedent("""
    import socket, sys
    with socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=5) as s:
        s.sendall(b"hello")
        print(s.recv(1024))
        s.sendall(b"world, again")
        print(s.recv(1024))
        s.shutdown(socket.SHUT_WR)
        print(s.recv(1024))
""")

#: A program that forks: the parent blocks in accept() while the child (0.2 s later) connects and sends.
FORKS = textwrap.dedent("""
    import os, socket, time
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    child = os.fork()
    if child == 0:
        time.sleep(0.2)  # so the parent is surely inside accept() by now
        with socket.create_connection(listener.getsockname(), timeout=5) as c:
            c.sendall(b"ping")
            c.recv(10)
        os._exit(0)
    conn, _ = listener.accept()
    conn.settimeout(5)
    conn.sendall(conn.recv(10))
    conn.close()
    listener.close()
    os.waitpid(child, 0)
""")

#: A server that will not stop at SIGINT (it ignores it), so stop() has to go on to SIGTERM.
STUBBORN = textwrap.dedent("""
    import signal, socket, time
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    print("listening on %s:%d" % listener.getsockname(), flush=True)
    time.sleep(30)
""")


def children() -> list:
    return [p for p in psutil.Process().children(recursive=True) if p.status() != psutil.STATUS_ZOMBIE]


def in_order(names: list, wanted: list) -> bool:
    """True if `wanted` appears in `names` in this order (other names may come between)."""
    walk = iter(names)
    return all(name in walk for name in wanted)


@pytest.fixture(scope="module")
def echo_run():
    """The C echo server traced while a traced Python client talks to it: (server trace, client trace)."""
    if _WHY:
        pytest.skip(_WHY)
    said = toolchains.missing("c")
    if said:
        pytest.skip(said)
    built = toolchains.build("echo_server", "c")
    with strace.Traced(built.command()) as server:
        assert server.trace_file.parent.is_dir()
        host, port = server.listening()
        client = strace.run([sys.executable, "-c", CLIENT, host, str(port)])
        folder = server.trace_file.parent
    assert not folder.exists(), "the handle's private folder must go at stop()"
    return server.syscall_trace(), client


# -- may we trace here? ----------------------------------------------------------------------------
def test_a_strace_without_ptrace_is_told_apart(tmp_path, monkeypatch):
    fake = tmp_path / "strace"
    fake.write_text("#!/bin/sh\necho 'strace: ptrace(PTRACE_TRACEME, ...): Operation not permitted' >&2\nexit 1\n")
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{tmp_path}{os.pathsep}{os.environ['PATH']}")
    said = strace.unavailable()
    assert said is not None and "may not trace" in said and "Operation not permitted" in said
    assert said.count(". ") == 0 and said.endswith("."), "one sentence"
    with pytest.raises(strace.Unavailable, match="ptrace"):
        strace.run(["true"])


def test_a_strace_that_fails_otherwise_is_not_blamed_on_ptrace(tmp_path, monkeypatch):
    fake = tmp_path / "strace"
    fake.write_text("#!/bin/sh\necho 'strace: invalid option -- seccomp' >&2\nexit 1\n")
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{tmp_path}{os.pathsep}{os.environ['PATH']}")
    said = strace.unavailable()
    assert said is not None and "ptrace" not in said and "exit code 1" in said and "invalid option" in said


def test_no_strace_at_all_says_what_to_install(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))  # an empty folder: no strace on this PATH
    said = strace.unavailable()
    assert said is not None and "not installed" in said and "apt-get install strace" in said


@needs_strace
def test_here_strace_may_trace():
    assert strace.unavailable() is None


# -- the C server and a Python client, traced for real ----------------------------------------------
@needs_strace
def test_the_c_server_makes_the_calls_its_source_makes(echo_run):
    server, _ = echo_run
    part = server.socket_calls
    names = [call.name for call in part]
    assert in_order(names, ["socket", "setsockopt", "bind", "listen", "getsockname", "accept", "setsockopt",
                            "read", "sendto", "read", "sendto", "read", "close", "accept"]), names
    reads = [call for call in part if call.name == "read"]
    assert [call.data for call in reads] == [b"hello", b"world, again", b""]
    assert [call.offset for call in reads] == [0, 5, 17]
    first = next(call for call in part if call.name == "setsockopt")
    assert "SO_REUSEADDR" in first.args and first.label() == "setsockopt(3, SO_REUSEADDR, 1) = 0"
    bind = next(call for call in part if call.name == "bind")
    assert bind.address == "127.0.0.1:0"
    accept = next(call for call in part if call.name == "accept")
    assert accept.returned is not None and accept.returned >= 0 and accept.connection == 1
    assert accept.duration is not None and accept.duration > 0, "-T: the time it waited for the client"
    # Stopped while waiting for its next client: the signal and the end, as strace saw them.
    assert server.ending == "killed by SIGINT"
    assert [e.kind for e in server.events][-2:] == ["signal", "killed"]
    assert server.events[-2].detail.startswith("SIGINT")
    assert part[-1].name == "accept" and part[-1].errno == "ERESTARTSYS" and part[-1].result == "?"
    assert server.unparsed == [] and not server.truncated


@needs_strace
def test_every_c_call_of_the_table_is_in_the_trace(echo_run):
    server, _ = echo_run
    names = {call.name for call in server.calls}
    for line, mapping in strace.C_TO_SYSCALL.items():
        assert set(mapping.syscalls) <= names, f"{line}: {mapping.syscalls} not among {sorted(names)}"
    written = [call for call in server.calls if call.name == "write" and call.fd == 1]
    assert written and written[0].data.startswith(b"listening on 127.0.0.1:")


@needs_strace
def test_the_python_client_makes_the_calls_of_the_table(echo_run):
    _, client = echo_run
    assert client.returncode == 0 and client.ending == "exited with 0"
    assert client.stdout.splitlines() == ["b'hello'", "b'world, again'", "b''"]
    names = [call.name for call in client.socket_calls]
    assert names[0] == "socket"
    assert in_order(names, ["socket", "ioctl", "connect", "poll", "getsockopt", "poll", "sendto", "poll",
                            "recvfrom", "poll", "sendto", "poll", "recvfrom", "shutdown", "poll", "recvfrom",
                            "close"]), names
    connect = next(call for call in client.socket_calls if call.name == "connect")
    assert connect.errno == "EINPROGRESS" and connect.error == "Operation now in progress"
    send = next(call for call in client.socket_calls if call.name == "sendto")
    assert send.arguments[3:] == ["0", "NULL", "0"], "send() is sendto(fd, buf, n, 0, NULL, 0) underneath"
    # The start-up is cut: Python read many files before its first socket, and none of them is left.
    assert len(client.calls) > len(client.socket_calls)
    assert all(call.on_socket for call in client.socket_calls)


@needs_strace
def test_each_send_meets_the_recv_that_got_its_bytes(echo_run):
    server, client = echo_run
    left, right = server.socket_calls, client.socket_calls
    found = strace.pairs(left, right)
    assert len(found) == 4, found  # two messages there, two echoes back
    for i, j in found:
        assert left[i].nbytes == right[j].nbytes and left[i].data == right[j].data
        assert {left[i].direction, right[j].direction} == {"in", "out"}
    assert strace.pairs(right, left) == sorted((j, i) for i, j in found)
    rows = strace.side_by_side_rows(left, right)
    assert len(rows) == len(left) + len(right)
    assert [row["ms"] for row in rows] == sorted(row["ms"] for row in rows) and rows[0]["ms"] == 0
    numbered = [row["pair"] for row in rows if row["pair"] is not None]
    assert sorted(numbered) == sorted(list(range(1, 5)) * 2)
    # On the shared clock of -ttt the server's read may begin first (it waits inside the call), but it
    # comes back with the bytes only after the client's send began.
    i, j = found[0]
    read, sent = left[i], right[j]
    assert read.name == "read" and sent.name == "sendto" and read.data == b"hello"
    assert read.time + read.duration >= sent.time


@needs_strace
def test_the_records_are_plain_data(echo_run):
    server, client = echo_run
    import json

    text = json.dumps(client.to_dict())
    assert '"name": "sendto"' in text
    one = server.socket_calls[0].to_dict()
    assert one["name"] == "socket" and one["label"].startswith("socket(AF_INET, SOCK_STREAM)")


# -- Python's calls, traced afresh, against the table ------------------------------------------------
@needs_strace
def test_the_python_table_is_what_strace_shows_here():
    found = strace.python_calls()
    assert list(found) == list(strace.PYTHON_TO_SYSCALL)
    wrong = {line: [call.name for call in calls] for line, calls in found.items()
             if tuple(call.name for call in calls) != strace.PYTHON_TO_SYSCALL[line].syscalls}
    assert not wrong, f"strace shows other calls here than PYTHON_TO_SYSCALL says: {wrong}"
    send = found["client.send(b'hello')"][0]
    assert send.data == b"hello" and send.arguments[3:] == ["0", "NULL", "0"]
    eof = found["conn.recv(1024)  # after the client's shutdown"][0]
    assert eof.returned == 0 and eof.data == b""


@needs_strace
def test_python_calls_reports_a_failing_line():
    with pytest.raises(PeerError, match="ZeroDivisionError"):
        strace.python_calls(["s = socket.socket()", "1 / 0"])


# -- the tricky shapes, produced for real -----------------------------------------------------------
@needs_strace
def test_unfinished_and_resumed_halves_are_joined(tmp_path):
    script = tmp_path / "forks.py"
    script.write_text(FORKS)
    output = tmp_path / "trace.txt"
    argv = strace.command([sys.executable, str(script)], output, calls=(*strace.NETWORK_CALLS, "wait4"))
    done = subprocess.run(argv, capture_output=True, timeout=30, stdin=subprocess.DEVNULL)
    assert done.returncode == 0, done.stderr
    text = output.read_text()
    assert "<unfinished ...>" in text and "<... accept4 resumed>" in text, "the shapes this test is about"
    trace = strace.parse(text)
    assert trace.unparsed == []
    # Every line is accounted for: a whole call, one half of a joined call, or an event.
    halves = text.count("<unfinished ...>")
    lines = len(text.splitlines())
    assert lines == len(trace.calls) + halves + len(trace.events)
    parent, child = trace.pids
    accept = next(call for call in trace.calls if call.name == "accept4")
    assert accept.pid == parent and accept.interrupted and accept.finished
    assert accept.args.startswith("3, {sa_family=AF_INET") and accept.args.endswith("SOCK_CLOEXEC")
    assert accept.duration > 0.15, "it waited for the child's 0.2 s nap"
    connect = next(call for call in trace.calls if call.name == "connect")
    assert connect.pid == child and connect.seconds > accept.seconds
    assert trace.calls.index(accept) < trace.calls.index(connect), "calls are listed in the order they began"
    # The bytes of the one connection, seen from both of its ends in two processes.
    sent = next(c for c in trace.calls if c.name == "sendto" and c.pid == child)
    got = next(c for c in trace.calls if c.name == "recvfrom" and c.pid == parent)
    assert (sent.data, sent.offset, got.data, got.offset) == (b"ping", 0, b"ping", 0)
    # The parent's listener (inherited by the child) is a socket in both: its fd 3 is no file of modules.
    clone = next(call for call in trace.calls if call.name == "clone")
    assert clone.returned == child
    kinds = [(e.pid, e.kind) for e in trace.events]
    assert (child, "exited") in kinds and (parent, "exited") in kinds
    assert any(e.kind == "signal" and e.detail.startswith("SIGCHLD") for e in trace.events)
    assert trace.ending == "exited with 0"


@needs_strace
def test_stop_goes_on_to_sigterm_for_a_program_that_ignores_sigint():
    before = {p.pid for p in children()}
    with strace.Traced([sys.executable, "-c", STUBBORN]) as server:
        server.listening()
        with pytest.raises(UsageError, match="still running"):
            server.calls()
        server.stop(timeout=0.5)
    trace = server.syscall_trace()
    signals = [e.detail.split()[0] for e in trace.events if e.kind == "signal"]
    assert signals[:2] == ["SIGINT", "SIGTERM"], signals
    assert trace.ending == "killed by SIGTERM"
    assert server.returncode == -signal.SIGTERM
    assert {p.pid for p in children()} <= before, "nothing traced is left running"
    names = [call.name for call in trace.socket_calls]
    assert names == ["socket", "bind", "listen", "getsockname"]


@needs_strace
def test_a_long_trace_is_cut_at_a_whole_line(monkeypatch):
    monkeypatch.setattr(strace, "MAX_TRACE_BYTES", 4000)
    trace = strace.run([sys.executable, "-c", "import socket\nfor _ in range(50): socket.socket().close()"])
    assert trace.truncated and trace.returncode == 0
    assert trace.unparsed == [], "the cut falls between lines, never inside one"
    assert 0 < len(trace.calls) < 100


@needs_strace
def test_a_program_that_runs_too_long_is_ended():
    before = {p.pid for p in children()}
    with pytest.raises(TimeLimitError, match="still running after 1 s"):
        strace.run([sys.executable, "-c", "import time; time.sleep(30)"], timeout=1.0)
    assert {p.pid for p in children()} <= before


@needs_strace
def test_a_program_that_is_not_there_is_said_so(tmp_path):
    with pytest.raises(PeerError, match="traced nothing"):
        strace.run([str(tmp_path / "no-such-program")])


@needs_strace
def test_a_server_that_claims_another_machine_is_refused():
    fake = "print('listening on 10.1.2.3:80', flush=True)\nimport time; time.sleep(30)"
    with strace.Traced([sys.executable, "-c", fake]) as server:
        with pytest.raises(PeerError, match="not a loopback address"):
            server.listening()


# -- bad input -------------------------------------------------------------------------------------
@pytest.mark.parametrize("argv", ["python client.py", [], [sys.executable, 3]])
def test_a_command_must_be_a_list_of_words(argv):
    with pytest.raises(ArgumentTypeError, match="must be"):
        strace.command(argv, "/tmp/unused")


@pytest.mark.parametrize("calls", [("Send To",), ("sendto; rm",), ()])
def test_call_names_are_checked(calls):
    with pytest.raises((ArgumentError, ArgumentTypeError), match="system call name|non-empty"):
        strace.command(["true"], "/tmp/unused", calls=calls)


def test_run_checks_its_timeout():
    with pytest.raises(ArgumentError, match="timeout"):
        strace.run(["true"], timeout=-1)


def test_parse_wants_text():
    with pytest.raises(ArgumentTypeError, match="str"):
        strace.parse(b"12 1.0 close(3) = 0")


def test_helpers_want_call_records():
    with pytest.raises(ArgumentTypeError, match="Call records"):
        strace.socket_part([{"name": "socket"}])
    with pytest.raises(ArgumentTypeError):
        strace.pairs("socket", [])


def test_split_args_respects_brackets_and_strings():
    # Shapes from the traces above, kept here as the splitter's own cases.
    words = strace.split_args('5, {sa_family=AF_INET, sin_port=htons(1)}, [128 => 16], "\\x2c\\x29", 0')
    assert words == ["5", "{sa_family=AF_INET, sin_port=htons(1)}", "[128 => 16]", '"\\x2c\\x29"', "0"]
    assert re.fullmatch(r"\[.*\]", words[2])
