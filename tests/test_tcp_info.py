"""Tests of sockcourse.kernel.tcpinfo: our reading of struct tcp_info must be the kernel's, checked three ways.

The layout is compared with offsetof() from the installed kernel header, the
values with what getsockopt() gives a C program for the very same socket (the
descriptor is passed to it), and with what `ss -ti` prints for the
connection, each on a live loopback connection.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import time

import pytest

from sockcourse.core.errors import ArgumentError, ArgumentTypeError
from sockcourse.kernel import tcpinfo

pytestmark = [
    pytest.mark.timeout(30),
    pytest.mark.skipif(tcpinfo.unavailable() is not None, reason=str(tcpinfo.unavailable())),
]

PAYLOAD = 200_000


@pytest.fixture
def connection():
    """A client and an accepted server socket on loopback, with PAYLOAD bytes sent one way and all read.

    The client's receive buffer is made small before it connects, so the two
    window scales of the handshake differ (0 and the usual one): the two
    4-bit fields that share a byte of the struct cannot be told apart otherwise.
    """
    with socket.create_server(("127.0.0.1", 0)) as listener:
        client = socket.socket()
        try:
            client.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            client.settimeout(5)
            client.connect(listener.getsockname())
        except BaseException:
            client.close()
            raise
        server, _ = listener.accept()
    server.settimeout(5)
    try:
        client.sendall(b"x" * PAYLOAD)
        got = 0
        while got < PAYLOAD:
            chunk = server.recv(65536)
            assert chunk, "the client closed early"
            got += len(chunk)
        _wait_until_acked(client)
        yield client, server
    finally:
        client.close()
        server.close()


def _wait_until_acked(sock, timeout: float = 2.0) -> None:
    """Until every byte sent is acknowledged, so the numbers stay still while three readers look."""
    deadline = time.monotonic() + timeout
    while tcpinfo.tcp_info(sock).unacked and time.monotonic() < deadline:
        time.sleep(0.005)
    time.sleep(0.05)  # a delayed ACK of the other direction, if one is due


def _compiler() -> str | None:
    return shutil.which(os.environ.get("CC", "")) or shutil.which("gcc") or shutil.which("cc")


def _header_members(compiler: str) -> list[tuple[str, bool]]:
    """The members of struct tcp_info in the installed <linux/tcp.h>, as the compiler's preprocessor sees it."""
    seen = subprocess.run([compiler, "-E", "-x", "c", "-"], input="#include <linux/tcp.h>\n",
                          capture_output=True, text=True, timeout=30)
    if seen.returncode != 0:
        pytest.skip(f"The kernel headers are not installed (<linux/tcp.h>: {seen.stderr.strip()[:80]}); "
                    f"install them with 'apt-get install linux-libc-dev'.")
    body = re.search(r"struct tcp_info\s*\{(.*?)\};", seen.stdout, re.S).group(1)
    members = []
    for declaration in body.split(";"):
        for part in declaration.split(","):
            found = re.search(r"(tcpi_\w+)\s*(:\s*\d+)?\s*$", part.strip())
            if found:
                members.append((found.group(1), bool(found.group(2))))
    return members


@pytest.fixture(scope="module")
def c_reader(tmp_path_factory):
    """A C program that prints each member's offset and its value for the socket whose descriptor it is given."""
    compiler = _compiler()
    if compiler is None:
        pytest.skip("No C compiler was found (tried $CC, gcc, cc); install one, e.g. 'apt-get install gcc'.")
    members = _header_members(compiler)
    lines = []
    for name, is_bits in members:
        if not is_bits:
            lines.append(f'    printf("offset {name} %zu\\n", offsetof(struct tcp_info, {name}));')
            lines.append(f'    printf("sizeof {name} %zu\\n", sizeof info.{name});')
        lines.append(f'    printf("value {name} %llu\\n", (unsigned long long)info.{name});')
    source = "\n".join([
        "#include <stddef.h>", "#include <stdio.h>", "#include <stdlib.h>", "#include <string.h>",
        "#include <sys/socket.h>", "#include <netinet/in.h>", "#include <linux/tcp.h>",
        "int main(int argc, char **argv) {",
        "    struct tcp_info info;",
        "    memset(&info, 0, sizeof info);",
        "    socklen_t length = sizeof info;",
        "    printf(\"size %zu\\n\", sizeof info);",
        "    if (argc > 1 && getsockopt(atoi(argv[1]), IPPROTO_TCP, TCP_INFO, &info, &length) != 0) {",
        "        perror(\"getsockopt\"); return 1; }",
        *lines,
        "    return 0;", "}", ""])
    folder = tmp_path_factory.mktemp("c-tcpinfo")
    (folder / "reader.c").write_text(source)
    built = subprocess.run([compiler, "-O0", "-o", str(folder / "reader"), str(folder / "reader.c")],
                           capture_output=True, text=True, timeout=60)
    assert built.returncode == 0, built.stderr
    return folder / "reader"


def _read_c(program, *args) -> tuple[dict, dict, dict, int]:
    """(offsets, sizes, values) by member name, and sizeof(struct tcp_info), as the C program printed them."""
    fds = tuple(int(a) for a in args)
    ran = subprocess.run([str(program), *map(str, args)], capture_output=True, text=True, timeout=10, pass_fds=fds)
    assert ran.returncode == 0, ran.stderr
    offsets, sizes, values, size = {}, {}, {}, 0
    for line in ran.stdout.splitlines():
        word, *rest = line.split()
        if word == "size":
            size = int(rest[0])
        else:
            {"offset": offsets, "sizeof": sizes, "value": values}[word][rest[0]] = int(rest[1])
    return offsets, sizes, values, size


def test_every_offset_is_the_installed_headers(c_reader):
    offsets, sizes, values, size = _read_c(c_reader)
    assert offsets, "the header's struct tcp_info had no members?"
    ours = {field.c_name: field for field in tcpinfo.FIELDS}
    assert set(values) <= set(ours), f"members of the header the table lacks: {sorted(set(values) - set(ours))}"
    for name, offset in offsets.items():
        assert tcpinfo.OFFSETS[name] == offset, name
        assert int(ours[name].ctype[1:]) == 8 * sizes[name], name  # "u32" is 4 bytes
    # The table goes on where this header ends: it is the header of an older (or the same) kernel.
    assert tcpinfo.SIZE >= size


def test_every_value_is_what_getsockopt_gives_c_for_the_same_socket(c_reader, connection):
    client, _ = connection
    before = tcpinfo.tcp_info(client)
    _, _, values, _ = _read_c(c_reader, client.fileno())
    after = tcpinfo.tcp_info(client)
    by_c_name = {field.c_name: field.name for field in tcpinfo.FIELDS}
    for c_name, value in values.items():
        low, high = sorted((getattr(before, by_c_name[c_name]), getattr(after, by_c_name[c_name])))
        # Idle, each number stands still or (the times since the last send, say) only grows.
        assert low <= value <= high, (c_name, value, low, high)
    assert before.state == "ESTABLISHED" and before.bytes_acked >= PAYLOAD
    assert values["tcpi_rcv_wscale"] == 0 < values["tcpi_snd_wscale"], "the fixture's window scales should differ"


def _ss_numbers(port: int) -> dict[str, float]:
    ss = shutil.which("ss")
    if ss is None:
        pytest.skip("ss is not installed; install it with 'apt-get install iproute2'.")
    ran = subprocess.run([ss, "-tinH", "src", f"127.0.0.1:{port}"], capture_output=True, text=True, timeout=10)
    if ran.returncode != 0 or "ESTAB" not in ran.stdout:
        pytest.skip(f"ss could not read the socket table here ({ran.stderr.strip()[:80] or 'no rows'}); "
                    f"it needs the sock_diag netlink interface.")
    numbers = {}
    for word in ran.stdout.split():
        found = re.fullmatch(r"(rtt|cwnd|bytes_acked|bytes_received|segs_out|segs_in|mss|rto):([\d.]+)(?:/([\d.]+))?",
                             word)
        if found:
            numbers[found.group(1)] = float(found.group(2))
            if found.group(1) == "rtt":
                numbers["rttvar"] = float(found.group(3))
    return numbers


def test_rtt_cwnd_and_counters_are_what_ss_prints(connection):
    client, _ = connection
    before = tcpinfo.tcp_info(client)
    ss = _ss_numbers(client.getsockname()[1])
    after = tcpinfo.tcp_info(client)

    def between(value, name):
        low, high = sorted((getattr(before, name), getattr(after, name)))
        return low <= value <= high

    # ss prints rtt, rttvar and rto in milliseconds (tcpi_rtt / 1000, with %g), the rest as the kernel gives them.
    assert between(ss["cwnd"], "snd_cwnd") and between(ss["mss"], "snd_mss")
    assert between(ss["bytes_acked"], "bytes_acked") and ss["bytes_acked"] >= PAYLOAD
    assert between(ss["segs_out"], "segs_out") and between(ss["segs_in"], "segs_in")
    for key, name in (("rtt", "rtt_us"), ("rttvar", "rttvar_us"), ("rto", "rto_us")):
        low, high = sorted((getattr(before, name), getattr(after, name)))
        assert low / 1000 - 0.001 <= ss[key] <= high / 1000 + 0.001, (key, ss[key], low, high)


def test_sending_data_moves_the_counters(connection):
    client, server = connection
    first, first_server = tcpinfo.tcp_info(client), tcpinfo.tcp_info(server)
    client.sendall(b"y" * 50_000)
    got = 0
    while got < 50_000:
        got += len(server.recv(65536))
    _wait_until_acked(client)
    then, then_server = tcpinfo.tcp_info(client), tcpinfo.tcp_info(server)
    assert then.bytes_acked - first.bytes_acked == 50_000
    assert then.segs_out > first.segs_out and then.data_segs_out > first.data_segs_out
    assert then.bytes_sent - first.bytes_sent >= 50_000
    assert then_server.bytes_received - first_server.bytes_received == 50_000
    assert then_server.segs_in > first_server.segs_in


def test_a_shorter_answer_from_an_older_kernel_leaves_the_later_fields_none(connection):
    client, _ = connection
    data = client.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, tcpinfo.SIZE)
    whole = tcpinfo.parse(data)
    cut = tcpinfo.OFFSETS["tcpi_pacing_rate"]  # Linux before 3.15 stopped here
    short = tcpinfo.parse(data[:cut])
    assert short.length == cut and short.state == whole.state == "ESTABLISHED"
    for field in tcpinfo.FIELDS:
        expected = None if tcpinfo.OFFSETS[field.c_name] >= cut else getattr(whole, field.name)
        assert getattr(short, field.name) == expected, field
    # Half a member is no member: a value is never read from a cut-off field.
    assert tcpinfo.parse(data[:cut + 4]).pacing_rate is None
    assert tcpinfo.parse(b"").state == "unknown (no data)"


def test_a_listening_socket_shows_its_backlog_and_queue():
    with socket.create_server(("127.0.0.1", 0), backlog=7) as listener:
        empty = tcpinfo.tcp_info(listener)
        with socket.create_connection(listener.getsockname(), timeout=5):
            deadline = time.monotonic() + 2
            while tcpinfo.tcp_info(listener).unacked == 0 and time.monotonic() < deadline:
                time.sleep(0.005)
            waiting = tcpinfo.tcp_info(listener)
    assert empty.state == waiting.state == "LISTEN"
    assert empty.sacked == 7 and empty.unacked == 0 and waiting.unacked == 1


def test_plain_data_repr_and_rows(connection):
    client, _ = connection
    info = tcpinfo.tcp_info(client)
    as_dict = info.to_dict()
    assert as_dict["rtt_us"] == info.rtt_us and as_dict["state"] == "ESTABLISHED"
    assert as_dict["options"] == info.options and set(info.options) <= set(tcpinfo.OPTION_BITS.values())
    assert info.ca_state == "open" and info.length >= 104
    rows = info.rows()
    assert [row[0] for row in rows] == [field.name for field in tcpinfo.FIELDS]
    assert "TcpInfo(state='ESTABLISHED', rtt_us=" in repr(info) and "more" in repr(info)


def test_bad_input_gets_one_sentence():
    with pytest.raises(ArgumentTypeError, match="tcp_info\\(\\) needs a socket.socket.*'localhost'"):
        tcpinfo.tcp_info("localhost")
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
        with pytest.raises(ArgumentError, match="this socket is AF_INET SOCK_DGRAM; pass a TCP socket"):
            tcpinfo.tcp_info(udp)
    if hasattr(socket, "AF_UNIX"):
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as unix:
            with pytest.raises(ArgumentError, match="AF_UNIX SOCK_STREAM"):
                tcpinfo.tcp_info(unix)
    closed = socket.socket()
    closed.close()
    with pytest.raises(ArgumentError, match="closed socket"):
        tcpinfo.tcp_info(closed)
    with pytest.raises(ArgumentTypeError, match="parse\\(\\) reads the bytes.*type str"):
        tcpinfo.parse("not bytes")


def test_a_system_without_linux_tcp_info_is_told_so_in_a_sentence(monkeypatch):
    monkeypatch.setattr(sys, "platform", "darwin")
    why = tcpinfo.unavailable()
    assert why and "Linux" in why and "macOS" in why and why.endswith(".")
