"""Tests of sockcourse.peers.netns: children in a private network namespace, for real.

Each test starts real child processes with `unshare` (or unshare(2)) and
checks what they see from inside: one interface, `lo`, in a namespace that is
not ours. set_loopback() is only ever called here with up=True outside a
namespace: if its guard were broken, switching the machine's own lo on would
still change nothing, while switching it off would cut every local connection.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

import sockcourse
from sockcourse.core.errors import ArgumentError, ArgumentTypeError, PeerError, TimeLimitError, UsageError
from sockcourse.peers import netns

pytestmark = [pytest.mark.timeout(60), pytest.mark.usefixtures("nothing_left_behind")]

LOOK = "sockcourse.peers.netns:look_around"
WHY = netns.unavailable()
needs_namespace = pytest.mark.skipif(WHY is not None, reason=WHY or "")
OUR_NAMESPACE = os.stat("/proc/self/ns/net").st_ino if os.path.exists("/proc/self/ns/net") else None


def _usable_methods() -> list[str]:
    methods = ["self"]
    if shutil.which("unshare"):
        methods.insert(0, "unshare -rn")
        if os.geteuid() == 0:
            methods.insert(0, "unshare -n")
    return methods


# -- can it be done here? --------------------------------------------------------------------
def test_unavailable_is_none_or_one_sentence():
    why = netns.unavailable()
    if why is not None:
        assert why.endswith(".") and len(why.split(". ")) <= 2, why
    assert netns.unavailable() == why  # asked once, remembered


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="namespaces are Linux's")
def test_on_this_linux_machine_it_works():
    # The course's machine (and CI) allows namespaces; a None here that hid a failure would show below.
    assert WHY is None, WHY


# -- what the child sees ---------------------------------------------------------------------------
@needs_namespace
@pytest.mark.parametrize("method", _usable_methods())
def test_the_child_sees_only_its_own_loopback_switched_on(method):
    seen = netns.run(LOOK, method=method, timeout=20)
    assert seen["interfaces"] == ["lo"]
    assert seen["lo_up"] is True
    assert seen["namespace"] != OUR_NAMESPACE
    assert seen["uid"] == 0  # root inside: in its own user namespace, or really root with "unshare -n"


@needs_namespace
def test_two_children_get_two_different_namespaces():
    first, second = netns.start(LOOK, timeout=20), netns.start(LOOK, timeout=20)
    try:
        assert first.result()["namespace"] != second.result()["namespace"]
    finally:
        first.stop()
        second.stop()


@needs_namespace
@pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("setpriv") or not os.path.exists("/usr/bin/python3"),
                    reason="needs root to become an ordinary user with setpriv, and /usr/bin/python3")
@pytest.mark.parametrize("method", ["unshare -rn", "self"])
def test_an_ordinary_user_gets_a_namespace_too(method):
    # The venv's interpreter may sit under /root, which nobody may read; the system one runs the same code.
    code = ("from sockcourse.peers import netns; import json, os; "
            f"print(json.dumps([os.getuid(), netns.unavailable(), netns.run({LOOK!r}, method={method!r})]))")
    done = subprocess.run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "/usr/bin/python3",
                           "-c", code], capture_output=True, text=True, timeout=30, cwd="/tmp",
                          env={**os.environ, "PYTHONPATH": str(Path(netns.__file__).resolve().parents[2])})
    if done.returncode and "No module named" in done.stderr:
        pytest.skip(f"the system Python lacks what the course imports: {done.stderr.strip()[-200:]}")
    assert done.returncode == 0, done.stderr
    uid, why, seen = json.loads(done.stdout)
    assert uid == 65534 and why is None
    assert seen["interfaces"] == ["lo"] and seen["lo_up"] is True


# -- set_loopback refuses outside -------------------------------------------------------------------
def test_set_loopback_refuses_outside_a_namespace(monkeypatch):
    monkeypatch.delenv(netns.PARENT_NAMESPACE, raising=False)
    with pytest.raises(UsageError, match="only inside a private network namespace"):
        netns.set_loopback(True)  # True only: see the module's docstring


@pytest.mark.skipif(OUR_NAMESPACE is None, reason="needs /proc/self/ns/net")
def test_set_loopback_refuses_when_told_this_namespace_is_the_parent(monkeypatch):
    monkeypatch.setenv(netns.PARENT_NAMESPACE, str(OUR_NAMESPACE))
    with pytest.raises(UsageError, match="would cut every local connection"):
        netns.set_loopback(True)
    with pytest.raises(UsageError):
        netns.look_around()


def test_set_loopback_checks_its_argument():
    with pytest.raises(ArgumentTypeError, match="'yes'"):
        netns.set_loopback("yes")


# -- bad input -----------------------------------------------------------------------------------
@pytest.mark.parametrize("function, kind, words", [
    (42, ArgumentTypeError, "42"),
    ("os:system", ArgumentError, "'os:system'"),
    ("sockcourse.peers.netns.look_around", ArgumentError, "look_around'"),
    ("sockcourse..x:y", ArgumentError, "sockcourse..x:y"),
])
def test_a_bad_function_name_is_one_sentence(function, kind, words):
    with pytest.raises(kind) as caught:
        netns.start(function)
    assert words in str(caught.value) and "for example" in str(caught.value)
    assert sockcourse.running() == []


@pytest.mark.parametrize("kwargs, kind, words", [
    ([1, 2], ArgumentTypeError, "[1, 2]"),
    ({1: 2}, ArgumentTypeError, "{1: 2}"),
    ({"x": float("nan")}, ArgumentError, "nan"),
    ({"x": object}, ArgumentError, "JSON"),
])
def test_arguments_that_cannot_cross_as_json_are_refused(kwargs, kind, words):
    with pytest.raises(kind, match=None) as caught:
        netns.run(LOOK, kwargs)
    assert words in str(caught.value)


@pytest.mark.parametrize("timeout", [0, -1, float("inf"), "5", 10_000])
def test_a_bad_timeout_is_refused(timeout):
    with pytest.raises(ArgumentError, match="timeout"):
        netns.run(LOOK, timeout=timeout)


def test_an_unknown_method_is_refused():
    with pytest.raises(ArgumentError, match="'ip netns'"):
        netns.run(LOOK, method="ip netns")


# -- the child's failures, said as sentences -------------------------------------------------------------
@needs_namespace
def test_a_function_that_does_not_exist_is_the_childs_failure_in_a_sentence():
    with pytest.raises(PeerError) as caught:
        netns.run("sockcourse.peers.netns:no_such_function", timeout=20)
    text = str(caught.value)
    assert "sockcourse.peers.netns:no_such_function" in text and "AttributeError" in text
    assert "private network namespace" in text


@needs_namespace
def test_a_wrong_keyword_is_reported_with_the_functions_own_error():
    with pytest.raises(PeerError, match="unexpected keyword argument 'colour'"):
        netns.run(LOOK, {"colour": "blue"}, timeout=20)


@needs_namespace
def test_a_bad_value_found_inside_is_still_the_callers_argument_error():
    with pytest.raises(ArgumentError, match="got 0"):
        netns.run("sockcourse.bench.options.vanish:watch_keepalive", {"idle": 0}, timeout=20)


@needs_namespace
def test_a_child_past_its_timeout_is_ended():
    began = time.monotonic()
    child = netns.start("sockcourse.bench.options.vanish:watch_keepalive", {"idle": 1, "count": 3}, timeout=1.0)
    with pytest.raises(TimeLimitError, match="within its timeout of 1.0 s, so it was ended"):
        child.result()
    assert child.returncode is not None  # it no longer runs
    assert time.monotonic() - began < 4.0  # the experiment itself would have taken five seconds


@needs_namespace
def test_a_child_stopped_early_gives_no_answer_and_says_so():
    child = netns.start("sockcourse.bench.options.vanish:watch_keepalive", {"idle": 1, "count": 3}, timeout=20)
    assert child.running
    sockcourse.stop_all()
    assert not child.running and child.returncode is not None
    with pytest.raises(PeerError, match="without giving its answer"):
        child.result()


@needs_namespace
def test_result_is_kept_and_can_be_asked_twice():
    child = netns.start(LOOK, timeout=20)
    assert child.result() == child.result()
    assert child.stopped
