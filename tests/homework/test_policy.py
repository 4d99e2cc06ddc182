"""The grader's loopback-only rule: the decision as a pure function over many addresses, and the hook's wiring.

Nothing here ever aims at another machine, not even to see a refusal: the
refusals of outside addresses are tested on the pure function alone, and the
hook is tested in a child interpreter with one loopback address (127.0.0.2)
refused on purpose, so the refused path runs without a packet that could
leave this machine.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import textwrap

import pytest

from sockcourse.homework import policy

ALLOWED = [
    (("127.0.0.1", 80), "socket.connect"),
    (("127.5.6.7", 1), "socket.connect"),
    (("::1", 80, 0, 0), "socket.connect"),
    (("[::1]", 5), "socket.sendto"),
    (("::ffff:127.0.0.1", 5), "socket.connect"),
    ((b"127.0.0.1", 9), "socket.sendto"),
    (("localhost", 80), "socket.connect"),
    (("LOCALHOST", 80), "socket.connect"),
    (("", 0), "socket.bind"),
    (("0.0.0.0", 0), "socket.bind"),
    (("::", 0, 0, 0), "socket.bind"),
    (("127.0.0.1", 0), "socket.bind"),
    ("/tmp/sockcourse-x.sock", "socket.connect"),
    (b"\0abstract-name", "socket.bind"),
    (None, "socket.sendmsg"),
]

REFUSED = [
    (("10.0.0.1", 80), "socket.connect"),
    (("8.8.8.8", 53), "socket.sendto"),
    (("192.168.1.1", 22), "socket.connect"),
    (("1.1.1.1", 443), "socket.sendmsg"),
    (("::ffff:8.8.8.8", 53), "socket.connect"),
    (("2001:db8::1", 80, 0, 0), "socket.connect"),
    (("fe80::1%eth0", 80, 0, 2), "socket.connect"),
    (("example.com", 80), "socket.connect"),
    (("0.0.0.0", 80), "socket.connect"),
    (("<broadcast>", 9), "socket.sendto"),
    (("127.1", 80), "socket.connect"),      # inet_aton would read it as loopback; the rule wants it spelled out
    (("192.168.1.10", 0), "socket.bind"),   # a real interface: listening there invites other machines
    (("10.1.2.3", 0), "socket.bind"),
    ((8, 80), "socket.connect"),
    (42, "socket.connect"),
]


@pytest.mark.parametrize("address, event", ALLOWED, ids=[repr(a) for a, _ in ALLOWED])
def test_loopback_and_unix_addresses_are_allowed(address, event):
    assert policy.allowed(address, event=event) is True


@pytest.mark.parametrize("address, event", REFUSED, ids=[repr(a) for a, _ in REFUSED])
def test_other_addresses_are_refused_with_a_sentence(address, event):
    verdict = policy.allowed(address, event=event)
    assert isinstance(verdict, str) and verdict is not True
    assert verdict.startswith("The grader refused") and verdict.endswith(".")
    assert "loopback" in verdict
    shown = str(address[0]) if isinstance(address, tuple) else repr(address)
    assert shown.strip("[]").split("%")[0] in verdict


@pytest.mark.parametrize("host", ["localhost", "127.0.0.1", "::1", None, ""])
def test_lookups_of_this_machine_are_allowed(host):
    assert policy.allowed(host, event="socket.getaddrinfo") is True
    assert policy.allowed(host, event="socket.gethostbyname") is True


@pytest.mark.parametrize("host", ["example.com", "8.8.8.8", "my-laptop.local", b"python.org", "10.0.0.1"])
def test_lookups_that_would_leave_the_machine_are_refused(host):
    verdict = policy.allowed(host, event="socket.getaddrinfo")
    assert isinstance(verdict, str) and "look up" in verdict


def test_reverse_lookups_follow_the_same_rule():
    assert policy.allowed(("127.0.0.1", 80), event="socket.getnameinfo") is True
    assert "look up the name of" in policy.allowed(("8.8.4.4", 53), event="socket.getnameinfo")
    assert "look up the name of" in policy.allowed("8.8.4.4", event="socket.gethostbyaddr")


def test_the_family_decides_before_the_shape():
    assert policy.allowed("/tmp/x.sock", family=socket.AF_UNIX) is True
    if hasattr(socket, "AF_NETLINK"):
        assert policy.allowed((0, 0), family=socket.AF_NETLINK, event="socket.bind") is True  # the kernel's own
    if hasattr(socket, "AF_PACKET"):
        verdict = policy.allowed(("eth0", 0x0800), family=socket.AF_PACKET, event="socket.bind")
        assert isinstance(verdict, str) and "family" in verdict
    # An INET socket with a path is not a UNIX socket: the shape must not fool the rule.
    assert isinstance(policy.allowed("/tmp/x.sock", family=socket.AF_INET), str)


def test_extra_refused_hosts_stand_in_for_another_machine_in_every_spelling():
    extra = {"127.0.0.2"}
    for address in [("127.0.0.2", 80), ("::ffff:127.0.0.2", 80, 0, 0)]:
        verdict = policy.allowed(address, extra_refused=extra)
        assert isinstance(verdict, str) and "another machine" in verdict
    assert isinstance(policy.allowed("127.0.0.2", event="socket.getaddrinfo", extra_refused=extra), str)
    assert policy.allowed(("127.0.0.1", 80), extra_refused=extra) is True
    assert policy.allowed(("127.0.0.3", 80), extra_refused=extra) is True


# -- the hook, in a child interpreter (the hook stays for the life of the interpreter that installs it) --
_WIRING = textwrap.dedent(r'''
    import json, socket, sys
    from sockcourse.homework import policy

    seen = {}

    def attempt(name, action):
        try:
            action()
            seen[name] = "ok"
        except PermissionError as exc:
            seen[name] = "refused: " + str(exc)
        except OSError as exc:
            seen[name] = type(exc).__name__

    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    seen["installed before"] = policy.installed()
    policy.install(extra_refused={"127.0.0.2"})
    attempt("connect 127.0.0.1", lambda: socket.create_connection(("127.0.0.1", port), timeout=2).close())
    attempt("connect 127.0.0.2", lambda: socket.socket().connect(("127.0.0.2", port)))
    attempt("connect_ex 127.0.0.2", lambda: socket.socket().connect_ex(("127.0.0.2", port)))
    attempt("create_connection 127.0.0.2", lambda: socket.create_connection(("127.0.0.2", port), timeout=2))
    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    attempt("sendto 127.0.0.2", lambda: udp.sendto(b"x", ("127.0.0.2", port)))
    attempt("sendmsg 127.0.0.2", lambda: udp.sendmsg([b"x"], [], 0, ("127.0.0.2", port)))
    attempt("sendto 127.0.0.1", lambda: udp.sendto(b"x", ("127.0.0.1", port)))
    attempt("bind 127.0.0.2", lambda: socket.socket().bind(("127.0.0.2", 0)))
    attempt("getaddrinfo 127.0.0.2", lambda: socket.getaddrinfo("127.0.0.2", 80))
    attempt("unix bind", lambda: socket.socket(socket.AF_UNIX).bind("\0sockcourse-policy-test"))
    policy.install(extra_refused=())   # a second call keeps the hook and changes only the extra hosts
    attempt("connect 127.0.0.2 after", lambda: socket.create_connection(("127.0.0.2", port), timeout=2))
    attempt("getaddrinfo 127.0.0.2 after", lambda: socket.getaddrinfo("127.0.0.2", 80))
    seen["installed after"] = policy.installed()
    print(json.dumps(seen))
''')


def test_the_hook_refuses_before_the_system_call_and_lets_loopback_through():
    done = subprocess.run([sys.executable, "-c", _WIRING], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    seen = json.loads(done.stdout)
    assert seen.pop("installed before") is False and seen.pop("installed after") is True
    for name in ("connect 127.0.0.1", "sendto 127.0.0.1", "unix bind", "getaddrinfo 127.0.0.2 after"):
        assert seen[name] == "ok", (name, seen[name])
    for name in ("connect 127.0.0.2", "connect_ex 127.0.0.2", "create_connection 127.0.0.2", "sendto 127.0.0.2",
                 "sendmsg 127.0.0.2", "bind 127.0.0.2", "getaddrinfo 127.0.0.2"):
        assert seen[name].startswith("refused: The grader refused"), (name, seen[name])
        assert "127.0.0.2" in seen[name] and "loopback" in seen[name]
    # With the extra host dropped, 127.0.0.2 is loopback again: nothing listens there, so the OS says no.
    assert seen["connect 127.0.0.2 after"] == "ConnectionRefusedError"
