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
