"""Tests of `python -m sockcourse serve`: a real process, real sockets, real signals.

Each test starts the command line as a child process, reads its first line
with a deadline, talks to the server through a real socket, then stops it with
a signal and checks the exit code and what it wrote. A child that outlives its
test is killed by the fixture, and every read, connect and wait has a timeout.
"""

from __future__ import annotations

import os
import queue
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from contextlib import contextmanager
from pathlib import Path

import pytest

from sockcourse.cli.common import UsageError, option_words, whole_number
from conftest import ipv6_loopback_available

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
def cli(*args: str, python_code: str | None = None, env: dict | None = None):
    """Run `python -m sockcourse ARGS` (or `python -c CODE ARGS`) and kill it if the test did not stop it."""
    command = [sys.executable, "-c", python_code, *args] if python_code else [sys.executable, "-m", "sockcourse", *args]
    proc = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env={**child_env(), **(env or {})})
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


@pytest.mark.skipif(not ipv6_loopback_available(), reason="this machine has no IPv6 loopback (::1)")
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


# A shell starts a command with SIGHUP at its default action, and nohup with SIGHUP
# ignored; this sets one of the two in the child itself, so the test does not depend on
# what the test runner was started with, then runs `python -m sockcourse` as it is.
_WITH_SIGHUP = ("import runpy, signal; signal.signal(signal.SIGHUP, signal.{action}); "
                "runpy.run_module('sockcourse', run_name='__main__', alter_sys=True)")


@pytest.mark.skipif(not hasattr(signal, "SIGHUP"), reason="this OS has no SIGHUP")
def test_sighup_of_a_closing_terminal_stops_cleanly_and_removes_the_socket_file(short_dir):
    path = str(short_dir / "hup.sock")
    with cli("serve", "echo", "--unix", path, python_code=_WITH_SIGHUP.format(action="SIG_DFL")) as proc:
        assert start(proc) == path
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as client:
            client.settimeout(SOCKET_TIMEOUT)
            client.connect(path)
            client.sendall(b"hang up")
            assert client.recv(1024) == b"hang up"
            # Killed by the signal, the child would exit with -SIGHUP and leave the file behind.
            out, err = stop(proc, signal.SIGHUP)
        assert_clean_exit(proc, out, err)
    assert not os.path.exists(path), "the socket file must be removed on SIGHUP too"


@pytest.mark.skipif(not hasattr(signal, "SIGHUP"), reason="this OS has no SIGHUP")
def test_sighup_removes_the_tls_key_folder(short_dir):
    # The certificate authority keeps the server's private key in a folder under TMPDIR.
    tmp = short_dir / "tmp"
    tmp.mkdir()
    with cli("serve", "echo", "--tls", python_code=_WITH_SIGHUP.format(action="SIG_DFL"),
             env={"TMPDIR": str(tmp)}) as proc:
        start(proc)
        assert list(tmp.iterdir()), "while the server runs, its key folder is in TMPDIR"
        assert_clean_exit(proc, *stop(proc, signal.SIGHUP))
    assert list(tmp.iterdir()) == [], "the key folder must be removed on SIGHUP"


@pytest.mark.skipif(not hasattr(signal, "SIGHUP"), reason="this OS has no SIGHUP")
def test_a_server_started_with_sighup_ignored_outlives_its_terminal_as_nohup_asks():
    with cli("serve", "echo", python_code=_WITH_SIGHUP.format(action="SIG_IGN")) as proc:
        address = host_port(start(proc))
        proc.send_signal(signal.SIGHUP)
        time.sleep(0.5)  # a handler that stopped the server would have done so by now
        assert proc.poll() is None, "nohup asked the server to survive SIGHUP"
        with socket.create_connection(address, timeout=SOCKET_TIMEOUT) as client:
            client.sendall(b"still here")
            assert client.recv(1024) == b"still here"
        assert_clean_exit(proc, *stop(proc, signal.SIGTERM))


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


@pytest.mark.parametrize("port", ["70000", "-1", "http", "\u00b2", "1" * 5000])
def test_a_bad_port_is_refused(port):
    # '\u00b2' (a superscript two) passes str.isdigit() and then fails int(): it once gave a traceback.
    line = assert_refused(run_to_end("serve", "echo", "--port", port), "--port", "65535")
    assert port in line or len(port) > 100, line


def _stale_socket(folder: Path) -> str:
    path = str(folder / "stale.sock")
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.bind(path)  # closed without unlink: the file stays, as after a crash
    return path


@pytest.mark.parametrize("make, words", [
    (lambda d: "", ["''", "--unix"]),
    (lambda d: str(d / ("x" * 120)), ["bytes", "shorter path"]),
    (lambda d: str(d / "no-such-folder" / "s.sock"), ["No such file", "--unix"]),
    (lambda d: str(d), ["not a socket"]),
    (_stale_socket, ["stale", "rm "]),
])
def test_unix_path_errors_speak_in_options_not_keyword_arguments(short_dir, make, words):
    line = assert_refused(run_to_end("serve", "echo", "--unix", make(short_dir)), *words)
    # Leaving out --unix means TCP on the command line, not "a path the course makes".
    assert re.search(r"\b\w+=", line) is None, f"a keyword argument in a command-line error: {line}"
    assert "path out" not in line and "temporary directory" not in line, line


@pytest.mark.parametrize("argv, words", [
    (["serve", "echo", "--bogus"], ["--bogus", "--help"]),
    (["serve"], ["HANDLER", "serve --help"]),
    (["serve", "echo", "--port"], ["--port", "expected one argument"]),
    (["link"], ["--to", "link --help"]),
])
def test_a_mistake_argparse_finds_is_one_line_too(argv, words):
    assert_refused(run_to_end(*argv), *words)


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


@pytest.mark.parametrize("where", [[], ["--unix", "/tmp/never-made.sock"]])
def test_a_stream_only_handler_with_udp_is_refused(where):
    # serve() refuses it; its sentence reaches the terminal in option words.
    line = assert_refused(run_to_end("serve", "hangup", "--udp", *where), "'hangup'", "drop --udp", "echo")
    assert "transport=" not in line and "handler(" not in line, line


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


# -- the one translator of the package's sentences, as a pure function ----------------
LINK_WORDS = ("delay", "jitter", "loss", "duplicate", "reorder", "chunk", "gap", "reset_after", "rto",
              "host", "port", "seed")


@pytest.mark.parametrize("sentence, kwargs, expected", [
    ("The address 127.0.0.1 port 80 is in use; use port=0 to let the kernel choose a free port.", {},
     "The address 127.0.0.1 port 80 is in use; use --port 0 to let the kernel choose a free port."),
    ("use host='127.0.0.1' (IPv4 loopback) or host='::1' (IPv6 loopback)", {},
     "use --host 127.0.0.1 (IPv4 loopback) or --host ::1 (IPv6 loopback)"),
    ("The path '/x' is taken by a file that is not a socket; pick another path, "
     "or leave path=None for one in a private temporary directory.", {},
     "The path '/x' is taken by a file that is not a socket; pick another path."),
    ("use a shorter path (for example in /tmp), or leave the path out and the course makes a short one "
     "in a private temporary directory.", {}, "use a shorter path (for example in /tmp)."),
    ("remove it with os.unlink(path), or leave path=None.", {"path": "/tmp/a b.sock"},
     "remove it with rm '/tmp/a b.sock'."),
    ("The handler 'hangup' acts on a connection, and datagrams (transport='unix_dgram') have none; "
     "use transport='tcp', or pick one that works with datagrams (echo, upper), or write "
     "handler(sock, data, address).", {},
     "The handler 'hangup' acts on a connection, and datagrams (--unix with --udp) have none; "
     "drop --udp, or pick one that works with datagrams (echo, upper)."),
    # The link's sentences: seconds become the milliseconds the options take.
    ("The setting rto=0.05 means nothing on a UDP link: UDP never retransmits; leave rto out.",
     {"options": LINK_WORDS, "ms": ("delay", "jitter", "gap", "rto")},
     "The setting --rto 50 means nothing on a UDP link: UDP never retransmits; leave --rto out."),
    ("for example delay=0.05 (50 ms), or loss=0.1 (10 %)", {"options": LINK_WORDS, "ms": ("delay",)},
     "for example --delay 50, or --loss 0.1 (10 %)"),
    ("use chunk=None to pass data on as it comes, or reset_after=100; use transport='udp' to see duplicates",
     {"options": LINK_WORDS}, "leave --chunk out to pass data on as it comes, or --reset-after 100; "
                              "add --udp to see duplicates"),
    # Nothing to reword: the sentence stays as it is, and names that are no option stay too.
    ("The handler 'x' raised RuntimeError: boom; connect with server_hostname='localhost'.", {},
     "The handler 'x' raised RuntimeError: boom; connect with server_hostname='localhost'."),
])
def test_option_words_turns_api_advice_into_option_advice(sentence, kwargs, expected):
    assert option_words(sentence, **kwargs) == expected


@pytest.mark.parametrize("text, expected", [("0", 0), ("65535", 65535), ("8080", 8080)])
def test_whole_number_reads_ascii_digits(text, expected):
    assert whole_number(text, "--port", low=0, high=65535, example="--port 0") == expected


@pytest.mark.parametrize("text, words", [
    ("\u00b2", "'\u00b2'"), ("\u0661", "'\u0661'"), ("", "''"), ("+5", "'+5'"), (" 5", "' 5'"), ("5.0", "'5.0'"),
    ("-1", "'-1'"), ("65536", "'65536'"), ("9" * 5000, "5000 digits long"),
])
def test_whole_number_refuses_anything_else_with_one_sentence(text, words):
    with pytest.raises(UsageError) as caught:
        whole_number(text, "--port", low=0, high=65535, example="--port 0")
    message = str(caught.value)
    assert words in message and "--port" in message and "0 to 65535" in message, message
    assert caught.value.__cause__ is None or caught.value.__suppress_context__


def test_whole_number_takes_a_sign_only_where_negatives_make_sense():
    assert whole_number("-3", "--seed", example="--seed 1") == -3
    with pytest.raises(UsageError, match="'-3'"):
        whole_number("-3", "--chunk", low=1, example="--chunk 10")
