"""Tests of `python -m sockcourse serve`: a real process, real sockets, real signals.

Each test starts the command line as a child process, reads its first line
with a deadline, talks to the server through a real socket, then stops it with
a signal and checks the exit code and what it wrote. A child that outlives its
test is killed by the fixture, and every read, connect and wait has a timeout.
"""

from __future__ import annotations

import os
import queue
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
from contextlib import contextmanager
from pathlib import Path

import pytest

pytestmark = [
    pytest.mark.timeout(60),
    pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="the tests stop the server with POSIX signals"),
]

START_TIMEOUT = 10.0   # seconds for the child to print its first line
EXIT_TIMEOUT = 10.0    # seconds for the child to exit after a signal
SOCKET_TIMEOUT = 5.0


def child_env() -> dict:
    # Without PYTHONUNBUFFERED (set on some machines, and by some IDEs) a pipe is
    # block-buffered, as for a learner's script: the first line must be flushed anyway.
    return {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}


def _read_line(stream, timeout: float) -> str:
    """One line from a child's pipe, or fail the test after `timeout` seconds.

    readline() cannot be given a timeout, so it runs on a daemon thread; if the
    child never writes, the fixture kills it, which ends the readline.
    """
    lines: queue.Queue = queue.Queue()
    threading.Thread(target=lambda: lines.put(stream.readline()), daemon=True).start()
    try:
        return lines.get(timeout=timeout)
    except queue.Empty:
        pytest.fail(f"The child printed no line within {timeout} s.", pytrace=False)


@contextmanager
def cli(*args: str, python_code: str | None = None):
    """Run `python -m sockcourse ARGS` (or `python -c CODE`) and kill it if the test did not stop it."""
    command = [sys.executable, "-c", python_code] if python_code else [sys.executable, "-m", "sockcourse", *args]
    proc = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=child_env())
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
        try:
            proc.communicate(timeout=EXIT_TIMEOUT)
        except (subprocess.TimeoutExpired, ValueError):
            pass  # ValueError: the test already read the pipes to the end


def run_to_end(*args: str) -> subprocess.CompletedProcess:
    """Run a command line that should refuse at once, with a deadline."""
    return subprocess.run([sys.executable, "-m", "sockcourse", *args], stdin=subprocess.DEVNULL,
                          capture_output=True, text=True, timeout=START_TIMEOUT, env=child_env())


def start(proc) -> str:
    """Read the first line and return what follows 'listening on '."""
    line = _read_line(proc.stdout, START_TIMEOUT)
    if not line:
        _, err = proc.communicate(timeout=EXIT_TIMEOUT)
        pytest.fail(f"The server exited (code {proc.returncode}) before listening; stderr:\n{err}", pytrace=False)
    assert line.startswith("listening on ") and line.endswith("\n"), line
    return line[len("listening on "):-1]


def host_port(where: str) -> tuple[str, int]:
    host, _, port = where.rpartition(":")
    return host.strip("[]"), int(port)


def stop(proc, signum=signal.SIGINT) -> tuple[str, str]:
    """Send `signum`, wait for the exit, and return the rest of stdout and stderr."""
    proc.send_signal(signum)
    out, err = proc.communicate(timeout=EXIT_TIMEOUT)
    return out, err


def assert_clean_exit(proc, out: str, err: str) -> None:
    assert proc.returncode == 0, err
    assert "Traceback" not in err, err
    assert out == "", f"nothing may follow the first line on stdout, got {out!r}"
    # The one hint line for the human, and nothing else.
    assert len(err.splitlines()) == 1 and "Ctrl-C" in err, err


def assert_refused(result: subprocess.CompletedProcess, *words: str) -> str:
    """Exit code 2, no traceback, one line on stderr naming `words`; return that line."""
    assert result.returncode == 2, (result.returncode, result.stderr)
    assert result.stdout == ""
    assert "Traceback" not in result.stderr, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    for word in words:
        assert word in lines[0], (word, lines[0])
    return lines[0]


@pytest.fixture
def short_dir():
    # Not tmp_path: its long names can exceed the 107 bytes a UNIX socket path may have.
    path = tempfile.mkdtemp(prefix="sccli-")
    try:
        yield Path(path)
    finally:
        shutil.rmtree(path, ignore_errors=True)


def ipv6_loopback() -> bool:
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as probe:
            probe.bind(("::1", 0))
        return True
    except OSError:
        return False


# -- serving and stopping ---------------------------------------------------------
def test_tcp_echo_then_ctrl_c_stops_cleanly_even_with_a_client_connected():
    with cli("serve", "echo") as proc:
        host, port = host_port(start(proc))
        assert host == "127.0.0.1" and port > 0
        with socket.create_connection((host, port), timeout=SOCKET_TIMEOUT) as client:
            client.sendall(b"hello, socket\n")
            assert client.recv(1024) == b"hello, socket\n"
            # The client stays connected and idle: Ctrl-C must still end the server.
            out, err = stop(proc, signal.SIGINT)
            assert client.recv(1024) == b"", "the server should close the connection when it stops"
        assert_clean_exit(proc, out, err)
        assert f"127.0.0.1 {port}" in err, "the hint says how to reach the server"
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection((host, port), timeout=SOCKET_TIMEOUT).close()


def test_tcp_upper():
    with cli("serve", "upper") as proc:
        address = host_port(start(proc))
        with socket.create_connection(address, timeout=SOCKET_TIMEOUT) as client:
            client.sendall(b"quiet please")
            assert client.recv(1024) == b"QUIET PLEASE"
        assert_clean_exit(proc, *stop(proc))


def test_udp_echo():
    with cli("serve", "echo", "--udp") as proc:
        address = host_port(start(proc))
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as client:
            client.settimeout(SOCKET_TIMEOUT)
            client.sendto(b"one datagram", address)
            data, sender = client.recvfrom(1024)
        assert (data, sender) == (b"one datagram", address)
        assert_clean_exit(proc, *stop(proc))


def test_udp_upper():
    with cli("serve", "upper", "--udp") as proc:
        address = host_port(start(proc))
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as client:
            client.settimeout(SOCKET_TIMEOUT)
            client.sendto(b"shout", address)
            assert client.recvfrom(1024)[0] == b"SHOUT"
        assert_clean_exit(proc, *stop(proc))


@pytest.mark.skipif(not ipv6_loopback(), reason="this machine has no IPv6 loopback (::1)")
def test_ipv6_loopback_is_printed_in_brackets():
    with cli("serve", "echo", "--host", "::1") as proc:
        where = start(proc)
        assert where.startswith("[::1]:"), where
        with socket.create_connection(host_port(where), timeout=SOCKET_TIMEOUT) as client:
            client.sendall(b"six")
            assert client.recv(1024) == b"six"
        assert_clean_exit(proc, *stop(proc))


def test_unix_echo_removes_its_socket_file(short_dir):
    path = str(short_dir / "echo.sock")
    with cli("serve", "echo", "--unix", path) as proc:
        assert start(proc) == path
        assert os.path.exists(path)
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as client:
            client.settimeout(SOCKET_TIMEOUT)
            client.connect(path)
            client.sendall(b"through a file")
            assert client.recv(1024) == b"through a file"
        assert_clean_exit(proc, *stop(proc))
    assert not os.path.exists(path), "the socket file must be removed when the server stops"


def test_unix_datagram_upper(short_dir):
    path, mine = str(short_dir / "up.sock"), str(short_dir / "client.sock")
    with cli("serve", "upper", "--unix", path, "--udp") as proc:
        assert start(proc) == path
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as client:
            client.settimeout(SOCKET_TIMEOUT)
            client.bind(mine)  # a datagram client needs a name of its own to get an answer
            client.sendto(b"datagram", path)
            assert client.recvfrom(1024)[0] == b"DATAGRAM"
        assert_clean_exit(proc, *stop(proc, signal.SIGTERM))
    assert not os.path.exists(path)


def test_sigterm_stops_cleanly_and_a_second_signal_does_no_harm():
    with cli("serve", "echo") as proc:
        address = host_port(start(proc))
        with socket.create_connection(address, timeout=SOCKET_TIMEOUT) as client:
            client.sendall(b"x")
            assert client.recv(16) == b"x"
        proc.send_signal(signal.SIGTERM)
        try:
            proc.send_signal(signal.SIGINT)  # an impatient second Ctrl-C while it stops
        except ProcessLookupError:
            pass  # it had already gone; that is fine too
        out, err = proc.communicate(timeout=EXIT_TIMEOUT)
        assert_clean_exit(proc, out, err)


def test_a_failing_handler_exits_1_with_one_line():
    # The stock handlers do not fail, so this child adds one that does, then runs the real main().
    code = (
        "import sockcourse.handlers as h, sockcourse.cli as cli\n"
        "def broken(conn):\n"
        "    conn.recv(100)\n"
        "    raise RuntimeError('broken on purpose')\n"
        "h.BY_NAME['broken'] = broken\n"
        "raise SystemExit(cli.main(['serve', 'broken']))\n"
    )
    with cli(python_code=code) as proc:
        address = host_port(start(proc))
        with socket.create_connection(address, timeout=SOCKET_TIMEOUT) as client:
            client.sendall(b"trigger")
            assert client.recv(16) == b""  # the handler raised, so the server closed the connection
        out, err = stop(proc)
    assert proc.returncode == 1, err
    assert "Traceback" not in err, err
    last = err.strip().splitlines()[-1]
    assert "'broken'" in last and "RuntimeError: broken on purpose" in last, err


# -- netcat, when it is there -------------------------------------------------------
@pytest.mark.skipif(shutil.which("nc") is None,
                    reason="netcat (nc) is not installed; e.g. 'apt-get install netcat-openbsd' to run this")
def test_netcat_talks_to_the_server():
    with cli("serve", "upper") as proc:
        host, port = host_port(start(proc))
        # Flags differ between netcat flavours, so none are used: nc stays open,
        # we read its one answer line and then end it ourselves.
        nc = subprocess.Popen(["nc", host, str(port)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True)
        try:
            nc.stdin.write("hello from netcat\n")
            nc.stdin.flush()
            assert _read_line(nc.stdout, SOCKET_TIMEOUT) == "HELLO FROM NETCAT\n"
        finally:
            nc.kill()
            nc.communicate(timeout=EXIT_TIMEOUT)
        assert_clean_exit(proc, *stop(proc))


# -- bad input: one sentence, exit 2 ---------------------------------------------------
def test_port_in_use_is_refused():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        line = assert_refused(run_to_end("serve", "echo", "--port", str(port)), str(port), "in use")
    assert "--port 0" in line, "the hint should be in the command line's words"


def test_unknown_handler_lists_the_valid_ones():
    line = assert_refused(run_to_end("serve", "ecko"), "'ecko'")
    for name in ("echo", "upper", "discard"):
        assert name in line


@pytest.mark.parametrize("host", ["0.0.0.0", "192.0.2.1", "example.com"])
def test_a_host_other_than_loopback_is_refused(host):
    line = assert_refused(run_to_end("serve", "echo", "--host", host), host)
    assert "127.0.0.1" in line and "host=" not in line


@pytest.mark.parametrize("port", ["70000", "-1", "http"])
def test_a_bad_port_is_refused(port):
    assert_refused(run_to_end("serve", "echo", "--port", port), port, "65535")


def test_an_existing_file_at_the_unix_path_is_refused_and_kept(short_dir):
    path = short_dir / "notes.txt"
    path.write_text("precious\n")
    assert_refused(run_to_end("serve", "echo", "--unix", str(path)), str(path))
    assert path.read_text() == "precious\n", "the server must never remove a file it did not create"


def test_a_unix_path_too_long_is_refused(short_dir):
    path = str(short_dir / ("x" * 120))
    assert_refused(run_to_end("serve", "echo", "--unix", path), "bytes")


def test_unix_with_a_port_is_refused(short_dir):
    assert_refused(run_to_end("serve", "echo", "--unix", str(short_dir / "s"), "--port", "5"), "--port")


def test_a_stream_only_handler_with_udp_is_refused():
    assert_refused(run_to_end("serve", "hangup", "--udp"), "'hangup'", "--udp")


def test_no_command_shows_the_usage():
    result = run_to_end()
    assert result.returncode == 2 and "serve" in result.stderr and "Traceback" not in result.stderr


# -- help ---------------------------------------------------------------------------
def test_help_explains_the_commands():
    top = run_to_end("--help")
    assert top.returncode == 0 and "serve" in top.stdout and "loopback" in top.stdout
    serve = run_to_end("serve", "--help")
    assert serve.returncode == 0
    for words in ("HANDLER", "--udp", "--unix", "--port", "--host", "Ctrl-C", "echo", "upper",
                  "python -m sockcourse serve echo"):
        assert words in serve.stdout, words


def test_the_console_script_runs_the_same_main():
    script = Path(sys.executable).with_name("sockcourse")
    if not script.exists():
        pytest.skip(f"the console script is not installed next to {sys.executable}")
    result = subprocess.run([str(script), "serve", "--help"], stdin=subprocess.DEVNULL,
                            capture_output=True, text=True, timeout=START_TIMEOUT)
    assert result.returncode == 0 and "usage: sockcourse serve" in result.stdout
