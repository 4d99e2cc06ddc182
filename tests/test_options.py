"""Tests of sockcourse.kernel.options: the live table must say what the kernel says, checked three ways.

The probe's answers are compared with what a small C program gets from
getsockopt()/setsockopt() on this machine (its numbers come from the C
headers, not from Python), with the kernel's own refusals, and with the man
pages socket(7) and tcp(7) that the table cites.
"""

from __future__ import annotations

import errno
import gzip
import json
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from sockcourse.core.errors import ArgumentError, ArgumentTypeError
from sockcourse.kernel import options
from sockcourse.kernel.options import Linger

pytestmark = pytest.mark.timeout(30)

LINUX = sys.platform.startswith("linux")
linux_only = pytest.mark.skipif(not LINUX, reason="These numbers and errnos are Linux's; run them on Linux.")

# The C side of the comparison: for each NAME=SAMPLE on its command line it
# makes a fresh socket, reads the option, sets the sample (or writes the
# default back, for an empty sample) and reads it again, as probe() does.
PROBE_C = r"""
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

struct option { const char *name; int level; int number; char kind; };  /* i int, l linger, t timeval, x bytes */

static const struct option options[] = {
    {"SO_REUSEADDR", SOL_SOCKET, SO_REUSEADDR, 'i'}, {"SO_REUSEPORT", SOL_SOCKET, SO_REUSEPORT, 'i'},
    {"SO_KEEPALIVE", SOL_SOCKET, SO_KEEPALIVE, 'i'}, {"TCP_KEEPIDLE", IPPROTO_TCP, TCP_KEEPIDLE, 'i'},
    {"TCP_KEEPINTVL", IPPROTO_TCP, TCP_KEEPINTVL, 'i'}, {"TCP_KEEPCNT", IPPROTO_TCP, TCP_KEEPCNT, 'i'},
    {"SO_LINGER", SOL_SOCKET, SO_LINGER, 'l'}, {"SO_SNDBUF", SOL_SOCKET, SO_SNDBUF, 'i'},
    {"SO_RCVBUF", SOL_SOCKET, SO_RCVBUF, 'i'}, {"SO_RCVTIMEO", SOL_SOCKET, SO_RCVTIMEO, 't'},
    {"SO_SNDTIMEO", SOL_SOCKET, SO_SNDTIMEO, 't'}, {"SO_TYPE", SOL_SOCKET, SO_TYPE, 'i'},
    {"SO_ERROR", SOL_SOCKET, SO_ERROR, 'i'}, {"SO_BROADCAST", SOL_SOCKET, SO_BROADCAST, 'i'},
    {"SO_DONTROUTE", SOL_SOCKET, SO_DONTROUTE, 'i'}, {"SO_OOBINLINE", SOL_SOCKET, SO_OOBINLINE, 'i'},
    {"SO_RCVLOWAT", SOL_SOCKET, SO_RCVLOWAT, 'i'}, {"SO_SNDLOWAT", SOL_SOCKET, SO_SNDLOWAT, 'i'},
#ifdef SO_USELOOPBACK
    {"SO_USELOOPBACK", SOL_SOCKET, SO_USELOOPBACK, 'i'},
#endif
    {"TCP_NODELAY", IPPROTO_TCP, TCP_NODELAY, 'i'}, {"TCP_INFO", IPPROTO_TCP, TCP_INFO, 'x'},
};

static socklen_t size_of(char kind) {
    return kind == 'i' ? sizeof(int) : kind == 'l' ? sizeof(struct linger)
         : kind == 't' ? sizeof(struct timeval) : 512;
}

static void show(char kind, const unsigned char *buf, socklen_t len) {
    if (kind == 'i') { int v; memcpy(&v, buf, sizeof v); printf("%d", v); }
    if (kind == 'l') { struct linger l; memcpy(&l, buf, sizeof l); printf("%d,%d", l.l_onoff, l.l_linger); }
    if (kind == 't') {
        struct timeval t; memcpy(&t, buf, sizeof t); printf("%ld,%ld", (long)t.tv_sec, (long)t.tv_usec);
    }
    if (kind == 'x') printf("%u,%u", (unsigned)len, len ? buf[0] : 0u);  /* length, tcpi_state */
}

int main(int argc, char **argv) {
    if (argc < 2) { fprintf(stderr, "usage: probe stream|dgram NAME=SAMPLE...\n"); return 1; }
    int type = strcmp(argv[1], "dgram") == 0 ? SOCK_DGRAM : SOCK_STREAM;
    for (int i = 2; i < argc; i++) {
        char name[64];
        const char *eq = strchr(argv[i], '=');
        size_t n = eq ? (size_t)(eq - argv[i]) : strlen(argv[i]);
        if (n >= sizeof name) n = sizeof name - 1;
        memcpy(name, argv[i], n); name[n] = '\0';
        const char *sample = eq ? eq + 1 : "";
        const struct option *opt = NULL;
        for (size_t k = 0; k < sizeof options / sizeof options[0]; k++)
            if (strcmp(options[k].name, name) == 0) opt = &options[k];
        if (!opt) { printf("%s absent\n", name); continue; }
        int fd = socket(AF_INET, type, 0);
        if (fd < 0) { perror("socket"); return 1; }
        unsigned char buf[512], set[512];
        socklen_t len = size_of(opt->kind), setlen;
        printf("%s %d ", name, opt->number);
        if (getsockopt(fd, opt->level, opt->number, buf, &len) != 0) {
            printf("get=errno:%d\n", errno); close(fd); continue;
        }
        printf("get="); show(opt->kind, buf, len);
        long a = 0, b = 0;
        if (*sample == '\0') { memcpy(set, buf, len); setlen = len; }
        else {
            sscanf(sample, "%ld,%ld", &a, &b);
            if (opt->kind == 'l') { struct linger l = {(int)a, (int)b}; memcpy(set, &l, sizeof l); setlen = sizeof l; }
            else if (opt->kind == 't') { struct timeval t = {a, b}; memcpy(set, &t, sizeof t); setlen = sizeof t; }
            else { int v = (int)a; memcpy(set, &v, sizeof v); setlen = sizeof v; }
        }
        if (setsockopt(fd, opt->level, opt->number, set, setlen) != 0) {
            printf(" set=errno:%d\n", errno); close(fd); continue;
        }
        len = size_of(opt->kind);
        if (getsockopt(fd, opt->level, opt->number, buf, &len) != 0) { printf(" back=errno:%d\n", errno); }
        else { printf(" set=ok back="); show(opt->kind, buf, len); printf("\n"); }
        close(fd);
    }
    return 0;
}
"""


def _compiler() -> str | None:
    return shutil.which(os.environ.get("CC", "")) or shutil.which("gcc") or shutil.which("cc")


@pytest.fixture(scope="module")
def c_probe(tmp_path_factory):
    compiler = _compiler()
    if compiler is None:
        pytest.skip("No C compiler was found (tried $CC, gcc, cc); install one, e.g. 'apt-get install gcc'.")
    folder = tmp_path_factory.mktemp("c-probe")
    (folder / "probe.c").write_text(PROBE_C)
    built = subprocess.run([compiler, "-O0", "-Wall", "-o", str(folder / "probe"), str(folder / "probe.c")],
                           capture_output=True, text=True, timeout=60)
    assert built.returncode == 0, built.stderr
    return folder / "probe"


def _sample_arg(probe) -> str:
    """NAME=SAMPLE as the C program reads it (empty: write the default back)."""
    opt = options.lookup(probe.option)
    if opt.sample is None:
        return f"{probe.option}="
    if opt.kind == "linger":
        return f"{probe.option}={int(opt.sample.on)},{opt.sample.seconds}"
    if opt.kind == "seconds":
        return f"{probe.option}={int(opt.sample)},{round((opt.sample % 1) * 1e6)}"
    return f"{probe.option}={int(opt.sample)}"


def _c_value(kind: str, text: str):
    """The C program's printing of a value, in the form probe() reports it."""
    parts = [int(part) for part in text.split(",")]
    if kind == "bool":
        return bool(parts[0])
    if kind == "linger":
        return Linger(bool(parts[0]), parts[1])
    if kind == "seconds":
        return parts[0] + parts[1] / 1e6
    if kind == "bytes":
        return parts  # [length, tcpi_state]
    return parts[0]


def _run_c(program: Path, kind_name: str, table) -> dict[str, dict]:
    ran = subprocess.run([str(program), kind_name] + [_sample_arg(p) for p in table],
                         capture_output=True, text=True, timeout=10)
    assert ran.returncode == 0, ran.stderr
    answers = {}
    for line in ran.stdout.splitlines():
        name, *rest = line.split()
        if rest == ["absent"]:
            answers[name] = {"absent": True}
            continue
        answer = {"number": int(rest[0])}
        for item in rest[1:]:
            key, _, value = item.partition("=")
            answer[key] = value
        answers[name] = answer
    return answers


def _bytes_view(value) -> list[int]:
    return [len(value), value[0]]


@pytest.mark.parametrize("sock_type", [socket.SOCK_STREAM, socket.SOCK_DGRAM], ids=["tcp", "udp"])
def test_every_probe_agrees_with_getsockopt_from_c(c_probe, sock_type):
    table = options.probe_all(sock_type)
    answers = _run_c(c_probe, "stream" if sock_type == socket.SOCK_STREAM else "dgram", table)
    assert sorted(answers) == sorted(options.names())
    for probe in table:
        c = answers[probe.option]
        if c.get("absent"):
            assert not probe.exists and probe.number is None, probe
            continue
        assert probe.exists and probe.number == c["number"], (probe, c)
        if c["get"].startswith("errno:"):
            assert not probe.readable and getattr(errno, probe.errno) == int(c["get"][6:]), (probe, c)
            continue
        default = _c_value(probe.kind, c["get"])
        assert (_bytes_view(probe.default) if probe.kind == "bytes" else probe.default) == default, (probe, c)
        if c["set"].startswith("errno:"):
            assert not probe.settable and probe.failed_call == "setsockopt", (probe, c)
            assert os.strerror(int(c["set"][6:])) == probe.strerror, (probe, c)
            continue
        assert probe.settable, (probe, c)
        assert probe.read_back == _c_value(probe.kind, c["back"]), (probe, c)


@linux_only
def test_the_linux_numbers_are_the_headers_numbers(c_probe):
    """Each linux_number of the table is the number the C headers give (where Python lacks one, it is used)."""
    answers = _run_c(c_probe, "stream", options.probe_all())
    for opt in options.OPTIONS:
        if opt.linux_number is None:
            assert answers[opt.name] == {"absent": True}, opt
        else:
            assert answers[opt.name]["number"] == opt.linux_number == getattr(socket, opt.name), opt


@linux_only
def test_what_the_chapter_says_of_linux_is_what_the_kernel_answers():
    table = options.probe_all()
    sndbuf, rcvbuf = table.row("SO_SNDBUF"), table.row("SO_RCVBUF")
    assert sndbuf.read_back == 2 * sndbuf.sample and rcvbuf.read_back == 2 * rcvbuf.sample
    assert "doubled" in sndbuf.note
    assert table.row("SO_RCVLOWAT").settable and table.row("SO_RCVLOWAT").read_back == 100
    low = table.row("SO_SNDLOWAT")
    assert low.readable and not low.settable and low.errno == "ENOPROTOOPT"
    assert not table.row("SO_USELOOPBACK").exists and "not on Linux" in table.row("SO_USELOOPBACK").note
    for read_only in ("SO_TYPE", "SO_ERROR", "TCP_INFO"):
        assert table.row(read_only).readable and not table.row(read_only).settable, table.row(read_only)
    assert table.row("SO_TYPE").default == socket.SOCK_STREAM
    # A TCP option on a UDP socket: the errno as Linux's man pages spell it (Python's table says ENOTSUP).
    on_udp = options.probe("TCP_NODELAY", socket.SOCK_DGRAM)
    assert on_udp.exists and not on_udp.readable and on_udp.errno == "EOPNOTSUPP", on_udp
    # The defaults of TCP's keep-alive timers are the sysctls tcp(7) names.
    for name, sysctl in [("TCP_KEEPIDLE", "tcp_keepalive_time"), ("TCP_KEEPINTVL", "tcp_keepalive_intvl"),
                         ("TCP_KEEPCNT", "tcp_keepalive_probes")]:
        path = Path("/proc/sys/net/ipv4") / sysctl
        if path.exists():
            assert table.row(name).default == int(path.read_text()), name


@linux_only
@pytest.mark.parametrize("name", ["TCP_KEEPIDLE", "TCP_KEEPINTVL", "TCP_KEEPCNT"])
def test_the_ranges_in_the_table_are_the_kernels(name):
    """The kernel takes the ends of each range and refuses one past them, as the table says."""
    opt = options.lookup(name)
    with socket.socket() as sock:
        for fine in (opt.low, opt.high):
            sock.setsockopt(socket.IPPROTO_TCP, opt.number, fine)
            assert sock.getsockopt(socket.IPPROTO_TCP, opt.number) == fine
        for wrong in (opt.low - 1, opt.high + 1):
            with pytest.raises(OSError) as refused:
                sock.setsockopt(socket.IPPROTO_TCP, opt.number, wrong)
            assert refused.value.errno == errno.EINVAL
            with pytest.raises(ArgumentError, match=f"{name} takes a whole number .* from {opt.low:,} to "
                                                    f"{opt.high:,}.*but got {wrong}"):
                options.set(sock, name, wrong)


def _man_page(name: str) -> str | None:
    for folder in ("/usr/share/man/man7", "/usr/local/share/man/man7"):
        for suffix in (".7.gz", ".7"):
            path = Path(folder) / f"{name}{suffix}"
            if path.exists():
                data = path.read_bytes()
                return (gzip.decompress(data) if suffix.endswith(".gz") else data).decode(errors="replace")
    return None


def test_each_option_is_in_the_man_page_the_table_cites():
    pages = {"socket(7)": _man_page("socket"), "tcp(7)": _man_page("tcp")}
    if None in pages.values():
        pytest.skip("The man pages socket(7) and tcp(7) are not installed; install them with "
                    "'apt-get install manpages'.")
    for opt in options.OPTIONS:
        if opt.man in pages:
            assert f".B {opt.name}" in pages[opt.man] or f".BR {opt.name}" in pages[opt.man], opt
        else:
            # The one option cited elsewhere is the one Linux lacks: its man pages never mention it.
            assert opt.linux_number is None and opt.name not in pages["socket(7)"], opt
    assert "SO_SNDLOWAT\nis not changeable on Linux" in pages["socket(7)"].replace(".B SO_SNDLOWAT", "SO_SNDLOWAT")


def _open_fds() -> int | None:
    return len(os.listdir("/proc/self/fd")) if os.path.isdir("/proc/self/fd") else None


def test_probes_and_refusals_leave_no_descriptor_behind():
    before = _open_fds()
    if before is None:
        pytest.skip("This system has no /proc/self/fd to count open descriptors in.")
    for sock_type in (socket.SOCK_STREAM, socket.SOCK_DGRAM):
        options.probe_all(sock_type)
    for name in options.names():
        options.probe(name)
    with pytest.raises(ArgumentError):
        options.probe("SO_NOSUCH")
    assert _open_fds() == before


def test_get_and_set_work_on_a_learners_socket_and_return_what_the_kernel_kept():
    with socket.socket() as sock:
        assert options.set(sock, "TCP_NODELAY", True) is True
        assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) == 1
        assert options.set(sock, "so_linger", Linger(True, 0)) == Linger(True, 0)
        assert options.set(sock, "SO_LINGER", None) == Linger(False, 0)
        assert options.set(sock, "SO_RCVTIMEO", 2.5) == 2.5
        assert options.get(sock, "SO_TYPE") == socket.SOCK_STREAM
        assert len(options.get(sock, "TCP_INFO")) >= 104  # the part every Linux since 3.15 returns
        if LINUX:
            assert options.set(sock, "SO_SNDBUF", 20000) == 40000


def test_a_receive_timeout_set_through_the_table_really_times_out():
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        options.set(sock, "SO_RCVTIMEO", 0.05)
        # A blocking socket (no Python timeout): the kernel's own timer ends the wait with EAGAIN.
        with pytest.raises(BlockingIOError):
            sock.recv(10)


def test_a_bad_name_a_bad_value_and_a_missing_option_each_get_one_sentence():
    with socket.socket() as sock:
        with pytest.raises(options.UnknownOption, match="'SO_REUSEADR' is not one .*did you mean 'SO_REUSEADDR'"):
            options.get(sock, "SO_REUSEADR")
        with pytest.raises(options.UnknownOption, match="the options are SO_REUSEADDR, "):
            options.set(sock, "WINDOW_SIZE", 1)
        with pytest.raises(ArgumentTypeError, match="named by a string"):
            options.get(sock, 2)
        with pytest.raises(ArgumentTypeError, match="SO_RCVTIMEO takes a number of seconds.*got 'soon' "
                                                    r"\(type str\)"):
            options.set(sock, "SO_RCVTIMEO", "soon")
        with pytest.raises(ArgumentError, match="SO_RCVTIMEO takes a number of seconds.*got -1"):
            options.set(sock, "SO_RCVTIMEO", -1)
        with pytest.raises(ArgumentError, match="got nan"):
            options.set(sock, "SO_SNDTIMEO", float("nan"))
        with pytest.raises(ArgumentTypeError, match=r"SO_LINGER takes Linger\(on, seconds\).*got 5 \(type int\)"):
            options.set(sock, "SO_LINGER", 5)
        with pytest.raises(ArgumentError, match="SO_KEEPALIVE takes on or off.*got 2"):
            options.set(sock, "SO_KEEPALIVE", 2)
        with pytest.raises(ArgumentTypeError, match="SO_KEEPALIVE takes on or off.*got 'yes'"):
            options.set(sock, "SO_KEEPALIVE", "yes")
        with pytest.raises(ArgumentTypeError, match="SO_SNDBUF takes a whole number of bytes.*got 1.5"):
            options.set(sock, "SO_SNDBUF", 1.5)
        if LINUX:
            with pytest.raises(options.OptionUnavailable, match="SO_USELOOPBACK does not exist on Linux.*0x0040"):
                options.set(sock, "SO_USELOOPBACK", True)
            with pytest.raises(options.OptionRefused, match="refused setsockopt.*SO_SNDLOWAT, 100.* ENOPROTOOPT.*"
                                                            "Linux lets SO_SNDLOWAT be read but not set") as caught:
                options.set(sock, "SO_SNDLOWAT", 100)
            assert isinstance(caught.value, OSError) and caught.value.errno == errno.ENOPROTOOPT
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
        with pytest.raises(options.OptionRefused, match="TCP_NODELAY is a TCP option, so it needs a TCP socket"):
            options.get(udp, "TCP_NODELAY")
    with pytest.raises(ArgumentError, match="closed socket"):
        options.get(sock, "SO_TYPE")
    with pytest.raises(ArgumentTypeError, match=r"get\(\) needs a socket.socket"):
        options.get("127.0.0.1:80", "SO_TYPE")
    with pytest.raises(ArgumentError, match="sock_type='SOCK_RAW'"):
        options.probe("SO_TYPE", "SOCK_RAW")
    with pytest.raises(ArgumentError, match=r"sock_type=\[1\]"):
        options.probe_all([1])


def test_the_table_is_plain_data_and_shows_itself():
    table = options.probe_all()
    text = repr(table)
    for name in options.names():
        assert name in text
    rows = table.to_dicts()
    json.dumps(rows)  # plain data: nothing a notebook cannot store
    linger = table.row("SO_LINGER").to_dict()
    assert linger["default"] == {"on": False, "seconds": 0} and linger["sample"] == {"on": True, "seconds": 5}
    assert table.row("TCP_INFO").to_dict()["default"]["bytes"] >= 104
    assert options.probe("SO_DONTROUTE", "SOCK_DGRAM").sock_type == "SOCK_DGRAM"


def test_a_timeout_shorter_than_a_microsecond_is_refused_not_sent_as_wait_for_ever():
    with socket.socket() as s:
        with pytest.raises(ArgumentError, match=r"SO_RCVTIMEO = 1e-07 is shorter than the one microsecond.*'wait for ever'"):
            options.set(s, "SO_RCVTIMEO", 1e-7)
        assert options.get(s, "SO_RCVTIMEO") == 0
        options.set(s, "SO_RCVTIMEO", 0.000001)
        assert options.get(s, "SO_RCVTIMEO") > 0
