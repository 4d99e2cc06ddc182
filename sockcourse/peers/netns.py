"""A private network namespace: a copy of the network stack with only its own loopback, in a child process.

On the machine's own loopback every peer's kernel answers, so a peer can
never simply vanish: a keep-alive probe is always acknowledged, a lost
segment is never lost. A private network namespace (network_namespaces(7))
is a second, empty copy of the kernel's network stack. It starts with one
interface, its own `lo`, switched off, and no route to anywhere else. A
child process in it can switch `lo` on, connect a client to a server, and
then switch `lo` off again: from that moment every packet of that namespace
is dropped, and nothing ever leaves it. It is pulling the cable out, with
both ends still alive.

- `unavailable()` says in one sentence why this machine cannot do it (not
  Linux, user namespaces switched off, the kernel refused), or None.
- `run(function, kwargs, timeout)` runs one of the course's own experiment
  functions, named "sockcourse.module:function", in a child process in a
  namespace of its own, and returns the plain data it returned (it crosses
  back as one line of JSON). `start()` does the same in the background and
  returns a `Child`, whose `result()` waits for that data.
- `set_loopback(up)` switches the namespace's `lo` on or off, from inside.
  It refuses anywhere else: switching off the machine's own `lo` would cut
  every local connection of every program.

The child is made by the `unshare` program of util-linux (`unshare -n` for
root, `unshare -rn` for everyone else: a user namespace in which we are root
may own a network namespace), or, without that program, by the child itself
calling unshare(2) (os.unshare from Python 3.12, the C library's before).
Nothing else needs installing: `lo` is switched by the same ioctl() that
`ip link set lo up` makes (netdevice(7), SIOCSIFFLAGS).
"""

from __future__ import annotations

import argparse
import ctypes
import fcntl
import importlib
import json
import os
import platform
import re
import shlex
import shutil
import signal
import socket
import struct
import subprocess
import sys
import time
import traceback

from .process import QUOTED_ERROR, Peer, read_line
from ..core.checks import check_choice, check_flag, check_seconds
from ..core.errors import ArgumentError, ArgumentTypeError, PeerError, TimeLimitError, UsageError, describe

__all__ = ["METHODS", "Child", "Unavailable", "look_around", "loopback_is_up", "run", "set_loopback", "start",
           "unavailable"]

# -- the kernel's numbers ----------------------------------------------------------
#: From <linux/sched.h>: the flags of unshare(2).
CLONE_NEWNET = 0x40000000
CLONE_NEWUSER = 0x10000000
#: From <linux/sockios.h> and <net/if.h>, see netdevice(7): read and write an interface's flags.
SIOCGIFFLAGS = 0x8913
SIOCSIFFLAGS = 0x8914
IFF_UP = 0x1
#: struct ifreq: the interface name (IFNAMSIZ = 16 bytes), then a union of 24 bytes
#: whose first member here is `short ifr_flags`.
IFREQ = struct.Struct("16sH22x")

#: The ways to make the child, in the order they are tried: the unshare program
#: without a user namespace (root only), with one, or the child unsharing itself.
METHODS = ("unshare -n", "unshare -rn", "self")

#: The environment variable that tells a child which namespace it must NOT be in:
#: the parent's, by the inode number of /proc/self/ns/net.
PARENT_NAMESPACE = "SOCKCOURSE_NETNS_PARENT"

#: Seconds the check in unavailable() may take to start a child and hear from it.
PROBE_TIMEOUT = 10.0

#: Seconds run() waits by default; an experiment that takes longer passes its own timeout.
DEFAULT_TIMEOUT = 30.0

#: What a function name must look like: a module of this package, a colon, a function.
_NAME = re.compile(r"sockcourse(\.[A-Za-z_][A-Za-z0-9_]*)+:[A-Za-z_][A-Za-z0-9_]*")


class Unavailable(UsageError):
    """This machine cannot give a process a private network namespace; the message says why."""


# -- can it be done here? ----------------------------------------------------------------
_verdict: tuple[str | None, str | None] | None = None  # (method, why not), found once per process


def _namespace_inode() -> int:
    return os.stat("/proc/self/ns/net").st_ino


def _read_number(path: str) -> int | None:
    try:
        with open(path) as file:
            return int(file.read().strip())
    except (OSError, ValueError):
        return None


def _candidates() -> list[str]:
    root = os.geteuid() == 0
    have_program = shutil.which("unshare") is not None
    methods = []
    if have_program:
        if root:
            methods.append("unshare -n")
        methods.append("unshare -rn")
    methods.append("self")
    return methods


def _plain_reason() -> str | None:
    """The reasons one can tell without starting anything."""
    if not sys.platform.startswith("linux"):
        here = {"darwin": "macOS", "win32": "Windows"}.get(sys.platform, platform.system() or sys.platform)
        return (f"Private network namespaces are a Linux feature and this is {here}, so the experiments that pull "
                f"the cable cannot run here; run them on Linux, for example on Binder where it allows them.")
    if not os.path.exists("/proc/self/ns/net"):
        return ("This Linux has no /proc/self/ns/net, so it was built without network namespaces and the "
                "experiments that pull the cable cannot run here; try another Linux machine.")
    if os.geteuid() != 0 and _read_number("/proc/sys/user/max_user_namespaces") == 0:
        return ("User namespaces are switched off on this machine (/proc/sys/user/max_user_namespaces is 0), as on "
                "Binder and in some containers, so an ordinary user cannot get a private network namespace; the "
                "experiments that pull the cable need a Linux machine that allows them, or root.")
    return None


def unavailable() -> str | None:
    """None where a child can get a private network namespace; else one sentence saying why not.

    The first call starts a tiny child for real (well under a second) and
    remembers the answer, with the way of making children that worked.
    """
    return _find_method()[1]


def _find_method() -> tuple[str | None, str | None]:
    global _verdict
    if _verdict is not None:
        return _verdict
    why = _plain_reason()
    if why:
        _verdict = (None, why)
        return _verdict
    refusals = []
    for method in _candidates():
        said = _try(method)
        if said is None:
            _verdict = (method, None)
            return _verdict
        refusals.append(f"{method}: {said}")
    _verdict = (None, "The kernel would not give a child process a private network namespace here ("
                      + "; ".join(refusals)[:QUOTED_ERROR]
                      + "), as happens in containers that forbid new namespaces, so the experiments that pull the "
                        "cable cannot run here; try a Linux machine of your own.")
    return _verdict


def _try(method: str) -> str | None:
    """Start a child that only switches its lo on and answers; None if it worked, else what went wrong."""
    try:
        child = Child(None, {}, timeout=PROBE_TIMEOUT, method=method)
    except PeerError as exc:
        return str(exc)
    try:
        answer = child.result()
    except (PeerError, TimeLimitError) as exc:
        return child.stderr_text.strip().splitlines()[-1] if child.stderr_text.strip() else str(exc)
    finally:
        child.stop()
    if not (isinstance(answer, dict) and answer.get("interfaces") == ["lo"] and answer.get("lo_up")
            and answer.get("namespace") != _namespace_inode()):
        return f"the child saw {answer!r} instead of one loopback interface, switched on"
    return None


# -- the child, seen from the parent ------------------------------------------------------
def _check_name(function) -> str:
    if not isinstance(function, str):
        raise ArgumentTypeError(f"The function to run must be named by a string 'sockcourse.module:function', "
                                f"but got {function!r} (type {type(function).__name__}); for example "
                                f"'sockcourse.peers.netns:look_around'.")
    if not _NAME.fullmatch(function):
        raise ArgumentError(f"The function to run must be named as 'sockcourse.module:function' (a function of "
                            f"this course, which the child imports), but got {function!r}; for example "
                            f"'sockcourse.peers.netns:look_around'.")
    return function


def _check_kwargs(kwargs, function: str) -> str:
    if kwargs is None:
        kwargs = {}
    if not isinstance(kwargs, dict) or not all(isinstance(key, str) for key in kwargs):
        raise ArgumentTypeError(f"The arguments for {function} must be a dict of keyword arguments, but got "
                                f"{kwargs!r}; for example {{'idle': 1}}.")
    try:
        return json.dumps(kwargs, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise ArgumentError(f"The arguments {kwargs!r} for {function} cannot cross to the child process as JSON "
                            f"({exc}); pass plain numbers, strings, booleans, lists and dicts.") from None


class Child(Peer):
    """One experiment function running in a child process with a network namespace of its own.

    `result()` waits (at most until `timeout` seconds after the start) for the
    plain data the function returned. A child still busy at its timeout is
    ended (SIGTERM, then SIGKILL) and the wait raises TimeLimitError; a child
    whose function raised makes `result()` raise a PeerError that quotes the
    error. Like every peer it is stopped by `stop()`, by the end of a `with`
    block, by `sockcourse.stop_all()` and when its notebook cell runs again.
    """

    what = "private-namespace child"

    def __init__(self, function: str | None, kwargs: dict | None = None, *, timeout: float = DEFAULT_TIMEOUT,
                 method: str | None = None):
        self.function = "sockcourse.peers.netns:look_around" if function is None else _check_name(function)
        arguments = _check_kwargs(kwargs, self.function)
        self.timeout = check_seconds(timeout, "timeout", none_ok=False, maximum=600, example=DEFAULT_TIMEOUT)
        if method is None:
            method, why = _find_method()
            if why:
                raise Unavailable(why)
        self.method = check_choice(method, "method", METHODS, example="unshare -rn")
        self._answer = None
        self._answered = False
        self.deadline = time.monotonic() + self.timeout
        argv = [sys.executable, "-m", "sockcourse.peers.netns", "--call", self.function, "--kwargs", arguments]
        if self.method == "self":
            argv.append("--unshare-self")
        else:
            argv[:0] = self.method.split()
        environment = dict(os.environ)
        environment[PARENT_NAMESPACE] = str(_namespace_inode())
        # SIGTERM: the child has no handler for it, so it ends even in the middle of a blocking recv().
        super().__init__(argv, stop_signal=signal.SIGTERM, name=f"netns {self.function.rpartition(':')[2]}",
                         env=environment)

    def result(self):
        """The plain data the function returned; waits at most until the child's timeout."""
        if self._answered:
            return self._answer
        left = max(self.deadline - time.monotonic(), 0.001)
        try:
            line = read_line(self.process, left)
        except EOFError:
            line = ""
        except PeerError:
            line = ""  # stopped already (stop_all, a re-run cell): it cannot answer any more
        if line is None:
            self.stop()
            raise TimeLimitError(f"The child running {self.function} in a private network namespace gave no answer "
                                 f"within its timeout of {self.timeout} s, so it was ended; {self._said()}")
        try:
            self.process.wait(timeout=max(self.deadline - time.monotonic(), 1.0))
        except subprocess.TimeoutExpired:
            pass  # it answered but lingers: stop() below ends it
        self.stop()
        try:
            answer = json.loads(line) if line else None
        except ValueError:
            answer = None
        if not isinstance(answer, dict) or not ({"result", "error"} & answer.keys()):
            raise PeerError(f"The child running {self.function} in a private network namespace ended (exit code "
                            f"{self.returncode}) without giving its answer; {self._said()}")
        if "error" in answer:
            kind = {"ArgumentError": ArgumentError, "ArgumentTypeError": ArgumentTypeError}.get(answer.get("kind"))
            if kind is not None:
                raise kind(answer["message"])
            raise PeerError(f"The experiment {self.function} failed inside its private network namespace with "
                            f"{answer['error']}; {self._said()}")
        self._answer, self._answered = answer["result"], True
        return self._answer

    def _said(self) -> str:
        said = self.stderr_text.strip()
        if said:
            return f"it wrote to stderr: {said[-QUOTED_ERROR:]!r}"
        return "it wrote nothing to stderr; run the same command in a terminal to see more: " + shlex.join(self.argv)


def start(function: str, kwargs: dict | None = None, *, timeout: float = DEFAULT_TIMEOUT,
          method: str | None = None) -> Child:
    """Start `function` ('sockcourse.module:function') with `kwargs` in a child with a namespace of its own.

    Raises Unavailable (with unavailable()'s sentence) where that cannot be
    done. `method` picks one of METHODS; None takes the first that works here.
    """
    return Child(_check_name(function), kwargs, timeout=timeout, method=method)


def run(function: str, kwargs: dict | None = None, *, timeout: float = DEFAULT_TIMEOUT,
        method: str | None = None):
    """Run `function` in a child with a private network namespace and return the plain data it returned."""
    with start(function, kwargs, timeout=timeout, method=method) as child:
        return child.result()


# -- inside the namespace -----------------------------------------------------------------
def _refuse_outside(what: str) -> None:
    parent = os.environ.get(PARENT_NAMESPACE, "")
    inside = parent.isdigit() and int(parent) != _namespace_inode()
    names = [name for _, name in socket.if_nameindex()] if inside else []
    if not inside or names != ["lo"]:
        raise UsageError(f"{what} works only inside a private network namespace that netns.run() made, and this "
                         f"process is not in one (it sees the interfaces {names or 'of the machine'}); switching "
                         f"lo here would cut every local connection, so call it from a function given to "
                         f"netns.run().")


def set_loopback(up: bool) -> None:
    """Switch this namespace's loopback interface on (True) or off (False): the cable in, or out.

    Off, every packet sent in the namespace is dropped, to every address:
    the connections stay open at both ends, and hear nothing more.
    """
    up = check_flag(up, "up")
    _refuse_outside("set_loopback()")
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as handle:  # any socket carries the ioctl
        _, flags = IFREQ.unpack(fcntl.ioctl(handle, SIOCGIFFLAGS, IFREQ.pack(b"lo", 0)))
        flags = flags | IFF_UP if up else flags & ~IFF_UP
        fcntl.ioctl(handle, SIOCSIFFLAGS, IFREQ.pack(b"lo", flags))


def loopback_is_up() -> bool:
    """Whether this process's loopback interface is switched on (netdevice(7), SIOCGIFFLAGS)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as handle:
        _, flags = IFREQ.unpack(fcntl.ioctl(handle, SIOCGIFFLAGS, IFREQ.pack(b"lo", 0)))
    return bool(flags & IFF_UP)


def look_around() -> dict:
    """What a process in a fresh private namespace sees: its interfaces, whether lo is on, who it is, where.

    `namespace` is the inode number of /proc/self/ns/net, which names a network
    namespace: it differs from the parent's.
    """
    _refuse_outside("look_around()")
    return {"interfaces": [name for _, name in socket.if_nameindex()], "lo_up": loopback_is_up(),
            "uid": os.getuid(), "namespace": _namespace_inode()}


def _unshare_self() -> None:
    """Move this (single-threaded, just started) process into new namespaces, as `unshare -n` or `-rn` would."""
    flags = CLONE_NEWNET if os.geteuid() == 0 else CLONE_NEWUSER | CLONE_NEWNET
    uid, gid = os.getuid(), os.getgid()
    if hasattr(os, "unshare"):  # Python 3.12 and later
        os.unshare(flags)
    else:
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.unshare(ctypes.c_int(flags)) != 0:
            code = ctypes.get_errno()
            raise OSError(code, f"unshare(2) refused: {os.strerror(code)}")
    if flags & CLONE_NEWUSER:
        # user_namespaces(7): an unprivileged process must give up setgroups() before it may map its group.
        for name, text in (("setgroups", "deny"), ("uid_map", f"0 {uid} 1"), ("gid_map", f"0 {gid} 1")):
            with open(f"/proc/self/{name}", "w") as file:
                file.write(text)


def _error_answer(exc: BaseException) -> dict:
    answer = {"error": describe(exc), "kind": type(exc).__name__}
    if isinstance(exc, UsageError):
        answer["message"] = str(exc)
    return answer


def main(argv=None) -> int:
    """The child's side: enter the namespace, switch lo on, call the function, print its result as JSON."""
    parser = argparse.ArgumentParser(prog="python -m sockcourse.peers.netns",
                                     description="Run a course function in a private network namespace.")
    parser.add_argument("--call", required=True)
    parser.add_argument("--kwargs", default="{}")
    parser.add_argument("--unshare-self", action="store_true")
    options = parser.parse_args(argv)
    # Only the answer goes to the real stdout: whatever the function prints is moved to stderr.
    answer_pipe = os.fdopen(os.dup(1), "w")
    sys.stdout = sys.stderr
    try:
        if options.unshare_self:
            _unshare_self()
        _refuse_outside("the child")
        set_loopback(True)
        module, _, name = _check_name(options.call).partition(":")
        function = getattr(importlib.import_module(module), name)
        result = function(**json.loads(options.kwargs))
        if hasattr(result, "to_dict"):
            result = result.to_dict()
        answer = {"result": result}
        line = json.dumps(answer, allow_nan=False)
    except BaseException as exc:  # noqa: BLE001 - every failure goes back to the parent as a sentence
        traceback.print_exc()
        line = json.dumps(_error_answer(exc))
        code = 1
    else:
        code = 0
    answer_pipe.write(line + "\n")
    answer_pipe.flush()
    answer_pipe.close()
    return code


if __name__ == "__main__":
    sys.exit(main())
