"""Programs nobody in this course wrote, run against the course's servers: openssl s_client, iperf3, sockperf.

An outside program is the honest test of a server: if `openssl s_client`
(the OpenSSL project's own TLS client) verifies the course's certificate,
host name included, and gets its line echoed, the TLS is real; if iperf3 moves bytes across loopback
faster than our Python does, the difference is Python's, not the kernel's;
sockperf's ping-pong is the same yardstick for round trips.
All of them run only against loopback addresses, are read with a time limit
and always ended (peers.process), and a missing program is said in a
sentence (or, for the two yardsticks, is None).
"""

from __future__ import annotations

import contextlib
import ipaddress
import json
import os
import re
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass

import psutil

from ..core.addresses import host_port
from ..core.checks import check_flag, check_path, check_seconds, check_target
from ..core.errors import ArgumentTypeError, MissingFileError, PeerError
from .process import end_process, read_line

__all__ = ["IPERF3_START_TIMEOUT", "SOCKPERF_MESSAGE", "SOCKPERF_START_TIMEOUT", "S_CLIENT_TIMEOUT", "SClientResult",
           "iperf3_gbps", "openssl_s_client", "sockperf_rtt_us"]

#: How long openssl_s_client() waits for the whole exchange, in seconds.
S_CLIENT_TIMEOUT = 10.0

#: Seconds `iperf3 -s` may take to say it listens.
IPERF3_START_TIMEOUT = 10.0

#: Seconds `sockperf server` may take to listen.
SOCKPERF_START_TIMEOUT = 10.0

#: The bytes of one sockperf message: its smallest, since each carries sockperf's own 14-byte header.
SOCKPERF_MESSAGE = 14

#: The s_client options whose value is a file: SClientResult.shown() prints its base name only.
_FILE_OPTIONS = ("-CAfile", "-cert", "-key", "-sess_out", "-sess_in")


# -- openssl s_client -------------------------------------------------------------------
@dataclass
class SClientResult:
    """What `openssl s_client` printed, and how it ended."""

    command: list
    returncode: int | None
    stdout: str
    stderr: str
    got_reply: bool

    def lines(self, *starts: str) -> list[str]:
        """The lines of stdout (stripped) that start with one of `starts` (all lines if none given)."""
        lines = [line.strip() for line in self.stdout.splitlines()]
        return [line for line in lines if not starts or line.startswith(starts)]

    @property
    def verify_line(self) -> str | None:
        found = self.lines("Verify return code:")
        return found[-1] if found else None

    def shown(self, width: int = 100) -> str:
        """The command as one would type it, files by their base name, in lines of at most about `width`.

        A long command goes on with a backslash at the end of each line, as in a
        shell; an option and its value stay on one line, so nothing wraps in
        mid-word in a notebook.
        """
        words = [os.path.basename(word) if index and self.command[index - 1] in _FILE_OPTIONS else word
                 for index, word in enumerate(self.command)]
        groups = []
        for word in words:
            if groups and not word.startswith("-") and groups[-1][-1].startswith("-") and len(groups[-1]) == 1:
                groups[-1].append(word)  # the value of the option before it
            else:
                groups.append([word])
        lines, line = [], ""
        for group in (" ".join(group) for group in groups):
            if line and len(line) + 1 + len(group) > width - 2:
                lines.append(line)
                line = "    " + group
            else:
                line = f"{line} {group}" if line else group
        lines.append(line)
        return " \\\n".join(lines)


def _name_options(servername: str, verify_name: bool) -> list[str]:
    """The options that name the server: SNI for a host name, and the check of the name itself.

    An IP address is checked with -verify_ip and sent without SNI, which may
    carry host names only (RFC 6066, section 3).
    """
    try:
        ipaddress.ip_address(servername)
    except ValueError:
        return ["-servername", servername] + (["-verify_hostname", servername] if verify_name else [])
    return ["-noservername"] + (["-verify_ip", servername] if verify_name else [])


def _check_pem_file(path, what: str) -> str:
    return check_path(path, what, example="ca.ca_file", exists=True,
                      hint="check the path, or let sockcourse.tls.CertificateAuthority() make the files for you")


def openssl_s_client(address, cafile, *, servername: str = "localhost", send: bytes = b"hello\n",
                     verify_name: bool = True, extra: tuple = (), timeout: float = S_CLIENT_TIMEOUT) -> SClientResult:
    """Run `openssl s_client` against `address` on loopback, send one line, and wait for it to come back.

    address: a running server, or its (host, port) on a loopback address.
    servername: the name the client asks for. s_client's `-servername` only
        puts it into the ClientHello (SNI); it is checked against the
        certificate only because `-verify_hostname` (or `-verify_ip`, for an
        address) says so too. verify_name=False leaves that check out, as many
        tutorials do: s_client then checks the chain and the dates only, and
        accepts a certificate for any name from a CA it trusts.
    The client keeps its standard input open until the reply has arrived (at
    end of input it would hang up at once, perhaps before the reply), then
    closes it, which makes s_client end the session and exit.
    """
    # Every check before anything runs: never a connection to another machine.
    host, port = check_target(address, "TLS server")
    cafile = _check_pem_file(cafile, "CA file")
    if not isinstance(servername, str) or not servername:
        raise ArgumentTypeError(f"The servername must be the name the certificate is for, such as 'localhost', "
                                f"but got {servername!r}.")
    if not isinstance(send, (bytes, bytearray)):
        raise ArgumentTypeError(f"The line to send must be the bytes of one line, but got {send!r} (type {type(send).__name__}); "
                                f"for example send=b'hello\\n'.")
    verify_name = check_flag(verify_name, "verify_name")
    if isinstance(extra, (str, bytes)) or not all(isinstance(word, str) for word in extra):
        raise ArgumentTypeError(f"The extra argument must be a tuple of more openssl arguments, but got {extra!r}; "
                                f"for example extra=('-tls1_2',).")
    timeout = check_seconds(timeout, "timeout", none_ok=False, example=S_CLIENT_TIMEOUT)
    openssl = shutil.which("openssl")
    if openssl is None:
        raise MissingFileError("The openssl program is not installed (or not on PATH), so there is no outside "
                               "client to try; install it with your package manager (apt install openssl).")
    command = [openssl, "s_client", "-connect", host_port(host, port), *_name_options(servername, verify_name),
               "-CAfile", cafile, "-verify_return_error", *extra]
    expected = bytes(send).strip().decode(errors="replace")
    process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    lines, got_reply = [], False
    deadline = time.monotonic() + timeout
    try:
        try:
            process.stdin.write(bytes(send))
            process.stdin.flush()
        except BrokenPipeError:
            pass  # s_client gave up early (a failed verification): its output says why
        # Until the line is back, then (stdin closed) until s_client has said all it says.
        for until_reply in (True, False):
            while (left := deadline - time.monotonic()) > 0:
                try:
                    line = read_line(process, left)
                except EOFError:
                    break
                if line is None:
                    break
                lines.append(line)
                if until_reply and expected and line.strip() == expected:
                    got_reply = True
                    break
            if until_reply:
                try:
                    process.stdin.close()
                except BrokenPipeError:
                    pass
    finally:
        said = end_process(process, max(1.0, deadline - time.monotonic()))
    stdout = "".join(f"{line}\n" for line in lines)
    return SClientResult([os.path.basename(command[0]), *command[1:]], process.returncode, stdout, said,
                         got_reply)


# -- iperf3 -------------------------------------------------------------------------------
def _free_port() -> int:
    # iperf3 has no "port 0", so a port is asked of the kernel and handed on. Another
    # program could take it in between (CPython's socket_helper warns of the same race);
    # on loopback, in a test run, that is rare enough, and iperf3 then says so.
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def iperf3_gbps(seconds: float) -> float | None:
    """iperf3's loopback throughput in Gbit/s (its receiver's figure), or None if iperf3 is not installed."""
    seconds = check_seconds(seconds, "seconds", none_ok=False, example=2.0)
    program = shutil.which("iperf3")
    if program is None:
        return None
    port = _free_port()
    server = subprocess.Popen([program, "-s", "-1", "-B", "127.0.0.1", "-p", str(port), "--forceflush"],
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    try:
        if not _says(server, "listening", IPERF3_START_TIMEOUT):
            raise PeerError(f"The iperf3 server (iperf3 -s) did not start listening within {IPERF3_START_TIMEOUT} s.")
        # iperf3 reads -t as whole seconds, and 0 would mean "until stopped".
        whole = str(max(1, round(seconds)))
        try:
            done = subprocess.run([program, "-c", "127.0.0.1", "-p", str(port), "-J", "-t", whole],
                                  capture_output=True, text=True, timeout=seconds + 30, stdin=subprocess.DEVNULL)
        except subprocess.TimeoutExpired:
            raise PeerError(f"The iperf3 client (iperf3 -c) did not finish within {seconds + 30:.0f} s.") from None
        try:
            result = json.loads(done.stdout)
        except ValueError:
            raise PeerError(f"The iperf3 client (iperf3 -c) printed no JSON (exit code {done.returncode}): "
                            f"{(done.stderr or done.stdout).strip()[-300:]!r}") from None
        if "error" in result:
            raise PeerError(f"The iperf3 program said: {result['error']}")
        return result["end"]["sum_received"]["bits_per_second"] / 1e9
    finally:
        # -1: the server ends after one test; after a failure it is ended here.
        end_process(server, 10.0)


def _says(process: subprocess.Popen, word: str, timeout: float) -> bool:
    """True once a line of the program's output holds `word` (any case), within `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while (left := deadline - time.monotonic()) > 0:
        try:
            line = read_line(process, left)
        except EOFError:
            return False
        if line is not None and word in line.lower():
            return True
    return False


# -- sockperf -------------------------------------------------------------------------------
#: The median line of sockperf's summary, e.g. "---> percentile 50.000 =   18.223" (µs).
_SOCKPERF_MEDIAN = re.compile(r"percentile\s+50\.0+\s*=\s*([0-9]+(?:\.[0-9]+)?)")


def sockperf_rtt_us(seconds: float = 1.0) -> float | None:
    """sockperf's median TCP round trip on loopback in µs, or None if sockperf is not installed.

    `sockperf server` and `sockperf ping-pong`, both on 127.0.0.1, over TCP
    (Nagle off, as in the course's own ping-pong), as one would run it by hand,
    reported as the full round trip (sockperf would otherwise halve it). Its messages are SOCKPERF_MESSAGE
    bytes, not the course's 1: on loopback the difference is lost in the noise.
    sockperf waits about two seconds before it starts measuring, so one call
    takes about `seconds` + 2 s.
    """
    seconds = check_seconds(seconds, "seconds", none_ok=False, example=1.0)
    program = shutil.which("sockperf")
    if program is None:
        return None
    server = subprocess.Popen([program, "server", "--tcp", "-i", "127.0.0.1", "-p", "0"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL)
    try:
        port = _listening_port(server, SOCKPERF_START_TIMEOUT)
        if port is None:
            said = end_process(server, 1.0)
            raise PeerError(f"The sockperf server (sockperf server --tcp) did not listen within "
                            f"{SOCKPERF_START_TIMEOUT} s" + (f"; it said: {said[-300:]!r}" if said else "."))
        # sockperf reads -t as whole seconds.
        whole = str(max(1, round(seconds)))
        command = [program, "ping-pong", "--tcp", "-i", "127.0.0.1", "-p", str(port), "-t", whole, "--full-rtt",
                   "-m", str(SOCKPERF_MESSAGE)]
        # Not --no-rdtsc: sockperf 3.7 then finds "no valid observations" in a run of one second.
        try:
            done = subprocess.run(command, capture_output=True, text=True, timeout=seconds + 30,
                                  stdin=subprocess.DEVNULL)
        except subprocess.TimeoutExpired:
            raise PeerError(f"The sockperf client (sockperf ping-pong) did not finish within {seconds + 30:.0f} s.") from None
        found = _SOCKPERF_MEDIAN.findall(done.stdout + done.stderr)
        if done.returncode != 0 or not found:
            raise PeerError(f"The sockperf client (sockperf ping-pong) printed no median round trip (exit code "
                            f"{done.returncode}): {(done.stderr or done.stdout).strip()[-300:]!r}")
        return float(found[-1])
    finally:
        # The server serves until it is told to stop.
        with contextlib.suppress(ProcessLookupError):
            server.terminate()
        end_process(server, 5.0)


def _listening_port(process: subprocess.Popen, timeout: float) -> int | None:
    """The TCP port `process` listens on at 127.0.0.1, once it does (within `timeout` s), or None.

    sockperf binds port 0 as asked, so the kernel picks a port nobody uses,
    but it prints "PORT = 0" instead of the port it got; the kernel's own
    table of the process's sockets says which one it is, with no race.
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and process.poll() is None:
        try:
            found = [conn.laddr.port for conn in psutil.Process(process.pid).net_connections(kind="tcp4")
                     if conn.status == psutil.CONN_LISTEN and conn.laddr.ip == "127.0.0.1"]
        except psutil.Error:
            return None  # it ended between the poll and the look
        if found:
            return found[0]
        time.sleep(0.02)
    return None
