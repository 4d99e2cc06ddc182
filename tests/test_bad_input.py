"""Tests that serve() refuses bad input with a short, whole-sentence message and a hint.

Each test checks the exception's type, that its message is made of whole
sentences that name the bad value and give a hint, and that the traceback is
short (no chain of internal errors for a learner to wade through).
"""

from __future__ import annotations

import os
import re
import socket
import sys
import threading
import traceback

import pytest

from sockcourse import AddressInUseError, handlers, registry, serve

pytestmark = pytest.mark.timeout(30)

HINT_WORDS = re.compile(r"\b(use|pass|try|leave|remove|stop|for example|the default is)\b")


def assert_helpful(error: BaseException, *names: str) -> str:
    """The message is whole sentences, names each of `names`, and gives a hint."""
    message = str(error)
    assert message[:1].isupper(), f"does not start a sentence: {message!r}"
    assert message.endswith("."), f"does not end a sentence: {message!r}"
    assert "\n" not in message, f"spans several lines: {message!r}"
    for name in names:
        assert name in message, f"{name!r} is not named in {message!r}"
    assert HINT_WORDS.search(message), f"gives no hint (use/pass/try ...): {message!r}"
    # Raised directly or "from None": the learner sees one error, not a chain.
    assert error.__cause__ is None
    assert error.__context__ is None or error.__suppress_context__
    frames = traceback.extract_tb(error.__traceback__)
    assert len(frames) <= 5, f"a traceback {len(frames)} frames deep: {[f.name for f in frames]}"
    return message


class SocketWatch:
    """Notices sockets made by this thread, through CPython's audit events.

    An audit hook cannot be removed, so one hook is installed for the whole
    run and only listens while a `with` block of this class is open.
    """

    _active: "SocketWatch | None" = None
    _installed = False

    def __init__(self):
        self.made: list[tuple] = []
        self._thread = threading.get_ident()

    @classmethod
    def _hook(cls, event, args):
        watch = cls._active
        if watch is not None and event in ("socket.__new__", "socket.bind") \
                and threading.get_ident() == watch._thread:
            watch.made.append((event, args))

    def __enter__(self):
        if not SocketWatch._installed:
            sys.addaudithook(SocketWatch._hook)
            SocketWatch._installed = True
        SocketWatch._active = self
        return self

    def __exit__(self, *exc):
        SocketWatch._active = None


def test_socket_watch_notices_a_socket():
    # The check below is only worth something if the watch can see sockets at all.
    with SocketWatch() as watch:
        socket.socket(socket.AF_INET, socket.SOCK_DGRAM).close()
    assert watch.made and watch.made[0][0] == "socket.__new__"


def test_a_handler_name_as_a_string():
    with pytest.raises(TypeError) as info:
        serve("echo")
    message = assert_helpful(info.value, "'echo'")
    assert "sockcourse.handlers.echo" in message


def test_an_unknown_handler_name_as_a_string():
    with pytest.raises(TypeError) as info:
        serve("shout")
    assert_helpful(info.value, "'shout'")


@pytest.mark.parametrize("handler", [42, None, b"echo"])
def test_a_handler_that_is_not_callable(handler):
    with pytest.raises(TypeError) as info:
        serve(handler)
    assert_helpful(info.value, repr(handler))


@pytest.mark.parametrize("transport", ["sctp", "TCP", ""])
def test_an_unknown_transport(transport):
    with pytest.raises(ValueError) as info:
        serve(handlers.echo, transport=transport)
    message = assert_helpful(info.value, repr(transport))
    assert "'tcp'" in message and "'unix_dgram'" in message


@pytest.mark.parametrize("port", [70000, 65536, -1])
def test_a_port_out_of_range(port):
    with pytest.raises(ValueError) as info:
        serve(handlers.echo, port=port)
    message = assert_helpful(info.value, str(port))
    assert "65535" in message and "port=0" in message


@pytest.mark.parametrize("port, hint", [("8080", "port=8080"), (80.0, "port=0"), (True, "port=0")])
def test_a_port_of_the_wrong_type(port, hint):
    with pytest.raises(TypeError) as info:
        serve(handlers.echo, port=port)
    message = assert_helpful(info.value, repr(port))
    assert hint in message


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.0.2.1", "8.8.8.8", "example.com"])
def test_a_host_that_is_not_loopback_is_refused_before_any_socket_exists(host):
    # 192.0.2.1 is TEST-NET-1 (RFC 5737): even so, nothing may ever be sent to it.
    with SocketWatch() as watch:
        with pytest.raises(ValueError) as info:
            serve(handlers.echo, host=host)
    assert watch.made == [], f"serve() made or bound a socket before refusing {host!r}: {watch.made}"
    message = assert_helpful(info.value, repr(host))
    assert "127.0.0.1" in message and "::1" in message


def test_a_unix_path_longer_than_the_os_allows(short_tmp):
    path = os.path.join(short_tmp, "x" * 200 + ".sock")
    with SocketWatch() as watch:
        with pytest.raises(ValueError) as info:
            serve(handlers.echo, transport="unix", path=path)
    assert watch.made == []
    message = assert_helpful(info.value, repr(path))
    assert str(len(os.fsencode(path))) in message
    assert not os.path.exists(path)


def test_a_port_already_in_use():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen(1)
        port = holder.getsockname()[1]
        with pytest.raises(AddressInUseError) as info:
            serve(handlers.echo, port=port)
        assert isinstance(info.value, OSError)  # so `except OSError` still catches it
        message = assert_helpful(info.value, str(port))
        assert "port=0" in message
    assert registry.running() == []


def test_a_unix_path_that_already_exists_is_left_alone(short_tmp):
    path = os.path.join(short_tmp, "notes.txt")
    with open(path, "w") as existing:
        existing.write("the learner's file")
    with pytest.raises(AddressInUseError) as info:
        serve(handlers.echo, transport="unix", path=path)
    assert_helpful(info.value, repr(path))
    with open(path) as existing:
        assert existing.read() == "the learner's file"  # refused, not overwritten or removed
    assert registry.running() == []


@pytest.mark.parametrize("transport", ["unix", "unix_dgram"])
@pytest.mark.parametrize("where", [{"host": "127.0.0.1"}, {"port": 8080}])
def test_host_or_port_for_a_unix_transport(transport, where):
    with pytest.raises(ValueError) as info:
        serve(handlers.echo, transport=transport, **where)
    (value,) = where.values()
    message = assert_helpful(info.value, repr(transport), repr(value))
    assert "path=" in message


def test_a_path_for_a_tcp_transport(short_tmp):
    path = os.path.join(short_tmp, "s.sock")
    with pytest.raises(ValueError) as info:
        serve(handlers.echo, path=path)
    assert_helpful(info.value, repr(path), "'unix'")


@pytest.mark.parametrize("option, value", [("backlog", -1), ("backlog", "128"),
                                           ("idle_timeout", 0), ("idle_timeout", "5")])
def test_bad_numbers_for_backlog_and_idle_timeout(option, value):
    with pytest.raises(ValueError) as info:
        serve(handlers.echo, **{option: value})
    assert_helpful(info.value, repr(value))


# -- inputs that were once accepted and then misbehaved ------------------------------------------

@pytest.mark.parametrize("value", [float("nan"), float("inf"), 1e300, -0.5])
def test_an_idle_timeout_that_is_not_a_finite_positive_number(value):
    with SocketWatch() as watch:
        with pytest.raises(ValueError) as info:
            serve(handlers.echo, idle_timeout=value)
    assert watch.made == []
    message = assert_helpful(info.value, repr(value))
    if value != -0.5:
        assert "None for no limit" in message


@pytest.mark.parametrize("port", ["²", "٣", " 80 "])
def test_a_port_string_that_int_cannot_read_is_refused_in_a_sentence(port):
    with pytest.raises(TypeError) as info:
        serve(handlers.echo, port=port)
    assert_helpful(info.value, repr(port))


@pytest.mark.parametrize("backlog", [10 ** 20, 2 ** 31, 65536])
def test_a_backlog_listen_cannot_take(backlog):
    with pytest.raises(ValueError) as info:
        serve(handlers.echo, backlog=backlog)
    assert_helpful(info.value, repr(backlog))


@pytest.mark.parametrize("transport", [["tcp"], None, 5])
def test_a_transport_that_is_not_a_name(transport):
    with pytest.raises(ValueError) as info:
        serve(handlers.echo, transport=transport)
    assert_helpful(info.value, repr(transport))


def test_an_async_handler_is_refused_with_the_way_to_serve_it():
    async def aecho(reader, writer):
        writer.write(await reader.read(100))

    with pytest.raises(TypeError) as info:
        serve(aecho)
    message = assert_helpful(info.value, "'aecho'")
    assert "serve_async" in message
    assert registry.running() == []


@pytest.mark.parametrize("transport", ["udp", "unix_dgram"])
@pytest.mark.parametrize("handler", [handlers.length_prefixed_echo, handlers.hangup, handlers.reset])
def test_a_stream_handler_on_a_datagram_transport(handler, transport):
    with pytest.raises(TypeError) as info:
        serve(handler, transport=transport)
    message = assert_helpful(info.value, repr(handler.__name__), repr(transport))
    assert "echo" in message  # names the handlers that do work with datagrams


def test_a_handler_that_takes_the_wrong_arguments():
    def needs_two(conn, extra):
        pass

    with pytest.raises(TypeError) as info:
        serve(needs_two)
    assert_helpful(info.value, "'needs_two'")


@pytest.mark.parametrize("option, value", [("reuse_address", 1), ("reuse_address", "yes"), ("setup", 42)])
def test_bad_socket_option_arguments(option, value):
    with pytest.raises(TypeError) as info:
        serve(handlers.echo, **{option: value})
    assert_helpful(info.value, repr(value))


# -- the options the course sets, visible and changeable ---------------------------------------

@pytest.mark.parametrize("reuse", [True, False])
def test_reuse_address_is_what_the_listening_socket_really_has(reuse):
    seen = []
    with serve(handlers.echo, reuse_address=reuse, setup=seen.append) as server:
        (listener,) = seen
        assert listener.getsockname()[1] == server.port  # setup got the very socket that listens
        assert bool(listener.getsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR)) is reuse


def test_setup_runs_before_bind_and_its_options_stick():
    bound_before = []

    def small_buffer(sock):
        bound_before.append(sock.getsockname()[1])  # 0: not bound yet
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)

    seen = []
    with serve(handlers.echo, setup=lambda s: (small_buffer(s), seen.append(s))) as server:
        assert bound_before == [0]
        # Linux doubles the value asked for, for its own bookkeeping (socket(7)).
        assert seen[0].getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF) in (4096, 8192)
        with socket.create_connection(server.address, timeout=5) as client:
            client.sendall(b"ok")
            assert client.recv(10) == b"ok"


def test_an_error_in_setup_is_the_learners_own_and_leaves_nothing():
    def bad(sock):
        sock.setsockopt(socket.SOL_SOCKET, 12345, 1)  # no such option: the kernel says EINVAL/ENOPROTOOPT

    with pytest.raises(OSError) as info:
        serve(handlers.echo, setup=bad)
    assert any(frame.name == "bad" for frame in traceback.extract_tb(info.value.__traceback__))
    assert registry.running() == []


def test_an_accept_error_that_is_not_about_capacity_ends_the_loop_and_is_reported():
    seen = []
    server = serve(handlers.echo, setup=seen.append)
    # shutdown() on a listening socket makes Linux's accept() fail with EINVAL from then on:
    # no retrying will help, so the loop must stop and say so rather than spin.
    seen[0].shutdown(socket.SHUT_RD)
    from conftest import wait_for
    wait_for(lambda: server.trace.of_kind("error"), 3.0, "the accept error in the trace")
    with pytest.raises(sockcourse_error()) as info:
        server.stop()
    assert "accept() failed" in str(info.value) and info.value.__cause__ is not None
    assert server.trace.of_kind("error")[0].fault == "course"


def sockcourse_error():
    from sockcourse import SockcourseError
    return SockcourseError
