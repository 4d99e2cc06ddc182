"""Tests of sockcourse.peers.native: the peers in C, Java, Rust and JavaScript, run for real.

Each server is driven by clients nobody in this course wrote (bash's
/dev/tcp redirection, curl's telnet:// scheme) as well as by Python's socket;
the Rust and Node clients talk to a Python server made here with
sockcourse.serve, and to each other's servers. Every peer is a real program
built by the real compiler (the course's cache makes the second run quick).
A test whose toolchain is missing skips, saying what to install.
"""

from __future__ import annotations

import re
import socket
import struct
import subprocess
import psutil
import pytest

import sockcourse
from sockcourse import registry
from sockcourse.core.errors import ArgumentError, PeerError, TimeLimitError
from sockcourse.peers import native, toolchains

from conftest import ipv6_loopback_available

pytestmark = pytest.mark.timeout(120)


def needs(*languages: str):
    said = next((toolchains.missing(language) for language in languages if toolchains.missing(language)), None)
    return pytest.mark.skipif(said is not None, reason=said or "")


def needs_program(name: str):
    return pytest.mark.skipif(subprocess.run(["sh", "-c", f"command -v {name}"], capture_output=True).returncode != 0,
                              reason=f"{name} is not installed here; install it, for example with "
                                     f"'apt-get install {name}'.")


def children() -> list:
    return [p for p in psutil.Process().children(recursive=True) if p.status() != psutil.STATUS_ZOMBIE]


def bash(script: str, **values) -> str:
    """Run a bash script (bash's own /dev/tcp client) and return its stdout; it must succeed."""
    done = subprocess.run(["bash", "-c", script.format(**values)], capture_output=True, text=True, timeout=20,
                          stdin=subprocess.DEVNULL)
    assert done.returncode == 0, done.stderr
    return done.stdout


def curl_telnet(address, data: bytes) -> bytes:
    """What curl's telnet:// client prints when it sends `data`; the server must close for it to end."""
    host, port = address
    shown = f"[{host}]" if ":" in host else host
    done = subprocess.run(["curl", "-sS", "--max-time", "10", f"telnet://{shown}:{port}"], input=data,
                          capture_output=True, timeout=20)
    assert done.returncode == 0, done.stderr
    return done.stdout


def exchange(address, data: bytes, expect: int) -> bytes:
    with socket.create_connection(address, timeout=5) as sock:
        sock.sendall(data)
        got = b""
        while len(got) < expect:
            chunk = sock.recv(65536)
            if not chunk:
                break
            got += chunk
        return got


def closed_after(address, data: bytes, *, then_shut: bool = False) -> bytes:
    """Send `data` (then shut our side, if asked) and read until the server closes; what came back before it did."""
    got = b""
    with socket.create_connection(address, timeout=5) as sock:
        try:
            sock.sendall(data)
            if then_shut:
                sock.shutdown(socket.SHUT_WR)
            while chunk := sock.recv(65536):
                got += chunk
        except (ConnectionResetError, BrokenPipeError):
            pass  # closed with our bytes unread: a reset, which is a close too
    return got


ECHO_BASH = ('exec 3<>/dev/tcp/{host}/{port}; printf "one line\\nsecond one\\n" >&3; '
             'IFS= read -r -t 5 a <&3; IFS= read -r -t 5 b <&3; echo "[$a] [$b]"')


# -- the C server ----------------------------------------------------------------------------------
@needs("c")
def test_the_c_echo_server_answers_python_and_bash_with_the_same_bytes():
    with native.start("echo_server", "c") as server:
        assert server.first == f"listening on 127.0.0.1:{server.address[1]}" and server.address[0] == "127.0.0.1"
        assert server.language == "c" and server.built.name == "echo_server"
        every_byte = bytes(range(256)) * 40  # more than one read() of 4096 bytes
        assert exchange(server.address, every_byte, len(every_byte)) == every_byte
        assert bash(ECHO_BASH, host="127.0.0.1", port=server.address[1]) == "[one line] [second one]\n"
        # One client at a time, then the next: a third connection is served as well.
        assert exchange(server.address, b"third", 5) == b"third"
        assert server in registry.running()
    assert server.returncode == -15, "SIGTERM ended it"
    assert registry.running() == [] and children() == []


@needs("c")
@pytest.mark.skipif(not ipv6_loopback_available(), reason="this machine has no IPv6 loopback (::1) to listen on.")
def test_the_c_echo_server_listens_on_ipv6_loopback_when_asked():
    with native.start("echo_server", "c", "::1") as server:
        assert server.first == f"listening on [::1]:{server.address[1]}" and server.address[0] == "::1"
        assert exchange(server.address, b"over IPv6", 9) == b"over IPv6"
        assert "[::1]" in repr(server)


@needs("c")
def test_the_c_server_serves_both_clients_in_other_languages():
    if toolchains.missing("rust") and toolchains.missing("node"):
        pytest.skip(toolchains.missing("rust"))
    with native.start("echo_server", "c") as server:
        host, port = server.address
        for language in ("rust", "node"):
            if not native.available(language):
                continue
            ran = native.run("echo_client", language, host, port, "hello", "hello world", "ünïcode")
            assert ran.ok, ran.stderr
            assert ran.stdout.splitlines() == ["sent hello got hello", "sent hello world got hello world",
                                               "sent ünïcode got ünïcode"], language


@needs("c")
def test_the_talk_s_server_is_compiled_but_never_run():
    assert toolchains.build("talk_server", "c").program.is_file()
    for call in (lambda: native.start("talk_server", "c"), lambda: native.run("talk_server", "c")):
        with pytest.raises(ArgumentError, match=r"The C peer 'talk_server' is compiled but the course never runs it: "
                                                r"it is the talk's server.*\(INADDR_ANY\) on the fixed port 8080"):
            call()
    assert registry.running() == [] and children() == []


def test_a_host_that_is_not_loopback_is_refused_before_anything_starts():
    for host in ("10.0.0.1", "0.0.0.0", "::", "[2001:db8::1]"):
        with pytest.raises(ArgumentError, match=re.escape(f"The host '{host}' given to 'echo_server' is not a "
                                                          f"loopback address")):
            native.start("echo_server", "c", host)
    with pytest.raises(ArgumentError, match=r"is not a loopback address"):
        native.run("echo_client", "rust", "192.0.2.7", 80, "hello")
    with pytest.raises(ValueError, match=r"There is no C peer called 'echo'; expected one of 'pingpong', "):
        native.start("echo", "c")
    assert children() == []


# -- servers that misbehave: small C programs of this test's own ---------------------------------------
MISBEHAVING_C = r"""
#include <stdio.h>
#include <string.h>
#include <unistd.h>
int main(int argc, char **argv) {
    const char *mode = argc > 1 ? argv[1] : "";
    alarm(60); /* whatever happens, not for long */
    if (strcmp(mode, "garbage") == 0) printf("ready, I think\n");
    if (strcmp(mode, "faraway") == 0) printf("listening on 192.0.2.7:5555\n");
    if (strcmp(mode, "good") == 0) printf("listening on 127.0.0.1:9\n");
    if (strcmp(mode, "dies") == 0) { fprintf(stderr, "misbehaving: bind failed: no luck\n"); return 3; }
    if (strcmp(mode, "chatty") == 0) { /* far more than a pipe holds (64 KiB), then the end */
        printf("listening on 127.0.0.1:9\n");
        for (int i = 0; i < 50000; i++) printf("line %d\n", i);
        return 0;
    }
    fflush(stdout);
    sleep(30);
    return 0;
}
"""


@pytest.fixture(scope="module")
def misbehaving(tmp_path_factory):
    if toolchains.missing("c"):
        pytest.skip(toolchains.missing("c"))
    source = tmp_path_factory.mktemp("peers") / "misbehaving.c"
    source.write_text(MISBEHAVING_C)
    return toolchains.build_file(source, "c")


def test_a_server_that_prints_no_first_line_is_stopped_and_said(misbehaving):
    with pytest.raises(PeerError, match=r"The C peer 'misbehaving' did not print its first line \('listening on "
                                        r"HOST:PORT'\) within 0.5 s, so it was stopped; it wrote nothing to stderr"):
        native.start_built(misbehaving, "silent", timeout=0.5)
    assert registry.running() == [] and children() == []


def test_a_first_line_of_the_wrong_shape_is_quoted(misbehaving):
    with pytest.raises(PeerError, match=r"printed 'ready, I think' as its first line, but a server peer's first line "
                                        r"is 'listening on HOST:PORT', for example 'listening on 127.0.0.1:43121'"):
        native.start_built(misbehaving, "garbage")
    assert registry.running() == [] and children() == []


def test_a_server_that_says_it_listens_off_loopback_is_stopped_at_once(misbehaving):
    with pytest.raises(PeerError, match=r"says it is listening on 192.0.2.7:5555, which is not a loopback address"):
        native.start_built(misbehaving, "faraway")
    assert registry.running() == [] and children() == []


def test_a_server_that_ends_before_its_first_line_is_said_with_its_stderr(misbehaving):
    with pytest.raises(PeerError, match=r"The C peer 'misbehaving' ended with exit code 3 before printing its first "
                                        r"line \('listening on HOST:PORT'\); it wrote to stderr: 'misbehaving: bind "
                                        r"failed: no luck'"):
        native.start_built(misbehaving, "dies")
    assert registry.running() == [] and children() == []


def test_a_well_shaped_first_line_is_parsed_and_stop_all_ends_the_peer(misbehaving):
    peer = native.start_built(misbehaving, "good")
    assert peer.address == ("127.0.0.1", 9) and peer.running and registry.running() == [peer]
    sockcourse.stop_all()
    assert not peer.running and peer.returncode == -15 and children() == []


def test_a_server_that_prints_a_lot_never_blocks_on_its_pipe(misbehaving):
    with native.start_built(misbehaving, "chatty") as peer:
        assert peer.process.wait(20) == 0, "it printed 50,000 lines nobody asked for, and could still end"
        kept = peer.lines(10)  # returns once its output has ended
        assert len(kept) == native.KEPT_LINES and kept[-1] == "line 49999", "the newest lines are kept"
        assert peer.lines(0.1) == []
        assert not peer.running


def test_a_client_still_running_at_its_timeout_is_killed_and_said(misbehaving):
    with pytest.raises(TimeLimitError, match=r"The C program 'misbehaving' was still running after 0.5 s, so it was "
                                             r"stopped; give it a larger timeout="):
        native.run_built(misbehaving, "silent", timeout=0.5)
    assert children() == []
    ran = native.run_built(misbehaving, "dies")
    assert ran.returncode == 3 and ran.stderr == "misbehaving: bind failed: no luck\n" and not ran.ok


def test_a_missing_toolchain_is_unavailable_with_its_sentence(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("RUSTC", str(tmp_path / "no-rustc"))
    with pytest.raises(native.Unavailable) as caught:
        native.start("echo_server", "rust")
    assert str(caught.value) == toolchains.missing("rust") and not native.available("rust")
    with pytest.raises(native.Unavailable):
        native.run("echo_client", "rust", "127.0.0.1", 1, "x")


# -- Rust and Node.js -------------------------------------------------------------------------------------
def line_echo(conn: socket.socket) -> None:
    """A line echo written here in Python: what the Rust and Node servers do."""
    pending = b""
    while chunk := conn.recv(4096):
        pending += chunk
        while b"\n" in pending:
            line, _, pending = pending.partition(b"\n")
            conn.sendall(line + b"\n")


@pytest.mark.parametrize("language", ["rust", "node"])
def test_the_line_echo_servers_answer_python_bash_and_curl(language):
    if toolchains.missing(language):
        pytest.skip(toolchains.missing(language))
    with native.start("echo_server", language) as server:
        host, port = server.address
        assert host == "127.0.0.1"
        assert bash(ECHO_BASH, host=host, port=port) == "[one line] [second one]\n"
        # Bytes, not text: every byte but the newline comes back as it went, in one line or in pieces.
        line = bytes(b for b in range(256) if b != 10) + b"\n"
        assert exchange(server.address, line * 3, 3 * len(line)) == line * 3
        # A line longer than 64 KiB is not held: the server closes, after echoing the lines before it.
        assert closed_after(server.address, b"short\n" + b"x" * (65 * 1024)) == b"short\n"
        # curl's telnet client ends when the server closes, so the long line shows it as well.
        assert curl_telnet(server.address, b"from curl\n" + b"y" * (70 * 1024)) == b"from curl\n"
        assert server.running, "one client's long line closes that client only"
        assert exchange(server.address, b"still here\n", 11) == b"still here\n"


@pytest.mark.parametrize("language", ["rust", "node"])
def test_the_clients_talk_to_a_python_server(language):
    if toolchains.missing(language):
        pytest.skip(toolchains.missing(language))
    with sockcourse.serve(line_echo) as server:
        ran = native.run("echo_client", language, *server.address, "hello", "from " + language)
        assert ran.ok, ran.stderr
        assert ran.stdout == f"sent hello got hello\nsent from {language} got from {language}\n"
        assert ran.argv[-4:] == ("127.0.0.1", str(server.address[1]), "hello", f"from {language}")


@needs("rust", "node")
def test_rust_talks_to_node_and_node_to_rust():
    for server_language, client_language in (("node", "rust"), ("rust", "node")):
        with native.start("echo_server", server_language) as server:
            ran = native.run("echo_client", client_language, *server.address, "across", "two languages")
            assert ran.ok, ran.stderr
            assert ran.stdout == "sent across got across\nsent two languages got two languages\n"


def read_then_close(conn: socket.socket) -> None:
    """Take the client's line, answer nothing, close: an end of stream where a reply was due."""
    conn.recv(4096)


@pytest.mark.parametrize("language", ["rust", "node"])
def test_a_client_says_which_call_failed(language):
    if toolchains.missing(language):
        pytest.skip(toolchains.missing(language))
    # A port nothing listens on: bound here and closed, so it was free a moment ago.
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    ran = native.run("echo_client", language, "127.0.0.1", port, "anyone?")
    assert ran.returncode == 1 and "connect failed" in ran.stderr, ran.stderr
    ran = native.run("echo_client", language, "127.0.0.1")
    assert ran.returncode == 2 and "usage: " in ran.stderr
    with sockcourse.serve(read_then_close) as server:
        ran = native.run("echo_client", language, *server.address, "hello")
        assert ran.returncode == 1 and "closed the connection before it replied" in ran.stderr, ran.stderr


# -- Java: writeUTF / readUTF ----------------------------------------------------------------------------
def write_utf(body: bytes) -> bytes:
    return struct.pack(">H", len(body)) + body


# "h", U+0000 and U+1F600 in Java's modified UTF-8, written out by hand: C0 80 for NUL, and the
# emoji as its two UTF-16 surrogates (D83D, DE00) encoded as three bytes each.
MODIFIED = b"h" + b"\xc0\x80" + b"\xed\xa0\xbd" + b"\xed\xb8\x80"


@pytest.fixture
def java():
    if toolchains.missing("java"):
        pytest.skip(toolchains.missing("java"))
    with native.start("UtfEchoServer", "java") as server:
        yield server


def test_java_reads_modified_utf8_and_writes_it_back(java):
    assert java.first == f"listening on 127.0.0.1:{java.address[1]}"
    framed = write_utf(MODIFIED)
    assert exchange(java.address, framed, len(framed)) == framed
    assert java.lines(5, count=1) == ["readUTF: 4 chars [0068 0000 d83d de00]"]


def test_java_refuses_plain_utf8_of_an_emoji_and_says_why(java):
    plain = "\U0001F600".encode()  # F0 9F 98 80: a 4-byte sequence, which readUTF does not accept
    assert plain == b"\xf0\x9f\x98\x80"
    reply = closed_after(java.address, write_utf(plain))
    (size,) = struct.unpack(">H", reply[:2])
    said = reply[2:].decode()
    assert size == len(reply) - 2 and said.startswith("readUTF failed: java.io.UTFDataFormatException")
    assert java.lines(5, count=1) == [said], "the same words on its stdout as to the client"
    assert java.running, "one client's bad string closes that client only"
    print(said)  # what this Java says (pytest -s shows it)


def test_java_with_bash_and_curl_as_clients(java):
    host, port = java.address
    got = bash("exec 3<>/dev/tcp/{host}/{port}; printf '\\x00\\x02hi' >&3; timeout 5 head -c 4 <&3 | od -An -tx1",
               host=host, port=port)
    assert got.split() == ["00", "02", "68", "69"]
    assert java.lines(5, count=1) == ["readUTF: 2 chars [0068 0069]"]
    # A NUL written as plain UTF-8 (00) is accepted by readUTF; the reply spells it C0 80, as
    # writeUTF always does. The cut-off emoji then fails, and the server closes, so curl ends.
    reply = curl_telnet(java.address, write_utf(b"a\x00") + write_utf(b"\xf0\x9f"))
    first, failed = java.lines(5, count=2)
    assert first == "readUTF: 2 chars [0061 0000]"
    assert failed.startswith("readUTF failed: java.io.UTFDataFormatException")
    assert reply == write_utf(b"a\xc0\x80") + write_utf(failed.encode())


def test_java_says_a_string_cut_short(java):
    reply = closed_after(java.address, struct.pack(">H", 10) + b"only5", then_shut=True)
    assert reply[2:].decode().startswith("readUTF failed: java.io.EOFException")
    assert java.lines(5, count=1)[0].startswith("readUTF failed: java.io.EOFException")
    assert closed_after(java.address, b"", then_shut=True) == b"", "end of stream between strings: a quiet goodbye"
    assert java.lines(0.2) == []
    assert java.running
