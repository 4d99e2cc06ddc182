"""Chapter 01's lifecycle stepper: real sockets pressed from code, the kernel's states after each press, refusals, cleanup."""

from __future__ import annotations

import socket
import threading
import time

import pytest

pytest.importorskip("ipywidgets")

import sockcourse  # noqa: E402
from sockcourse import kernel  # noqa: E402
from sockcourse.viz import state_diagram  # noqa: E402
from sockcourse.core.errors import ArgumentError, ArgumentTypeError  # noqa: E402
from sockcourse.widgets import stepper as stepper_module  # noqa: E402
from sockcourse.widgets.stepper import STEPS, fallback_text, lifecycle_stepper  # noqa: E402

ROUND = ("server socket", "bind", "listen", "client socket", "connect", "accept", "send", "shutdown", "close")
PNG = b"\x89PNG\r\n\x1a\n"


def _drawing_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "sockcourse-stepper-drawing"]


def _enabled(stepper) -> set[str]:
    return {name for name, button in stepper.buttons.items() if not button.disabled}


def test_a_round_in_order_shows_the_kernel_states_after_each_press():
    box = lifecycle_stepper(draw=state_diagram)
    st = box.stepper
    assert _enabled(st) == {"server socket", "client socket"} and not sockcourse.running()
    seen, timings = {}, {}
    for name in ROUND:
        pressed = st.press(name)
        assert pressed.ran and not pressed.error and pressed.said.endswith("."), (name, pressed)
        assert pressed.said in st.said.value.replace("&#x27;", "'") and not st.problem.value
        table_text = st.table.value.replace("&#x27;", "'")
        assert str(pressed.table).splitlines()[0] in table_text
        seen[name] = pressed.table
        timings[name] = pressed.seconds
        assert st.wait_drawn(30), f"the state diagram after {name} was not drawn within 30 s"
        assert bytes(st.picture.value).startswith(PNG) and st.picture in st.picture_slot.children
        if name == "connect":
            # The handshake is done although nobody accepted: the server end waits in the accept queue.
            assert "waiting in the accept queue: 1" in table_text
        if name == "accept":
            assert "waiting in the accept queue: 0" in table_text
        if name != "close":
            assert [type(t).__name__ for t in sockcourse.running()] == ["StepperRound"]
    assert list(seen["server socket"]) == [] and list(seen["bind"]) == []  # bound, but in no table yet
    assert seen["listen"].of_role("listening") == ["LISTEN"] and len(seen["listen"]) == 1
    assert seen["connect"].of_role("client") == ["ESTABLISHED"] and seen["connect"].of_role("server") == ["ESTABLISHED"]
    assert seen["accept"].of_role("server") == ["ESTABLISHED"]
    assert "b'hello\\n'" in st.said.value.replace("&#x27;", "'") or seen["send"].of_role("client") == ["ESTABLISHED"]
    assert seen["shutdown"].of_role("client") == ["FIN_WAIT2"] and seen["shutdown"].of_role("server") == ["CLOSE_WAIT"]
    assert seen["close"].of_role("client") == ["TIME_WAIT"] and not seen["close"].of_role("listening")
    # The whole program the learner built, in order, is shown, and the round has left the registry.
    program = st.program.value.replace("&quot;", '"').replace("&#x27;", "'")
    assert [line for step in ROUND for line in next(s for s in STEPS if s.name == step).code.splitlines()] == \
        [line for line in program.split("<pre style='margin-top:0'>")[1].split("</pre>")[0].splitlines()]
    assert not sockcourse.running() and _enabled(st) == set()
    print("\nstepper press -> panel updated (s):", {k: round(v, 3) for k, v in timings.items()})
    box.close()


def test_the_diagram_follows_the_press_and_a_press_answers_before_it_is_drawn():
    stepper_module._pictures.clear()  # every picture drawn anew, as in a fresh kernel
    st = lifecycle_stepper(draw=state_diagram, name="stepper timing").stepper
    assert st.wait_drawn(30)
    answers, pictures, pending = [], [], []
    for name in ROUND:
        started = time.perf_counter()
        pressed = st.press(name)
        answered = time.perf_counter() - started
        if not st._drawn.is_set():
            pending.append(name)
        assert st.wait_drawn(30)
        pictures.append(time.perf_counter() - started)
        answers.append(answered)
        assert pressed.ran
    # Reported, not asserted as a time: under load both grow, but the answer never waits for the picture.
    # States never seen before (LISTEN; the pair ESTABLISHED; FIN_WAIT2 and CLOSE_WAIT; TIME_WAIT) each
    # had their picture still to draw when the press returned: the answer does not wait for the drawing.
    assert {"listen", "connect", "shutdown", "close"} <= set(pending), pending
    print(f"\nstepper: press answered in at most {max(answers):.3f} s (median {sorted(answers)[4]:.3f} s); "
          f"picture shown at most {max(pictures):.3f} s after the press")
    st.close()
    assert not _drawing_threads() and not sockcourse.running()


def test_a_wrong_order_is_refused_with_a_sentence_in_the_panel():
    st = lifecycle_stepper(draw=state_diagram, name="stepper order").stepper
    refused = st.press("accept")
    assert not refused.ran and refused.error.startswith("Not yet: accept needs connect first, because accept()")
    assert "accept needs connect first" in st.problem.value and not sockcourse.running()  # nothing opened for it
    st.press("client socket")
    refused = st.press("connect")
    assert not refused.ran and "connect needs listen first" in refused.error and "ConnectionRefusedError" in refused.error
    st.press("server socket")
    again = st.press("server socket")
    assert not again.ran and "already" in again.error and "start over" in again.error
    for name in ("bind", "listen", "connect", "accept", "shutdown"):
        assert st.press(name).ran, name
    after = st.press("send")
    assert not after.ran and "BrokenPipeError" in after.error and _enabled(st) == {"close"}
    assert st.press("close").ran
    over = st.press("bind")
    assert not over.ran and "This round is over" in over.error
    # Start over begins a new round with new sockets.
    assert st.start_over().ran and _enabled(st) == {"server socket", "client socket"} and not st.problem.value
    assert st.press("server socket").ran and sockcourse.running()
    st.close()
    assert not sockcourse.running()


def test_a_call_the_kernel_refuses_is_shown_in_the_panel_not_raised():
    st = lifecycle_stepper(draw=state_diagram, name="stepper refused").stepper
    for name in ("server socket", "bind", "listen", "client socket"):
        st.press(name)
    # Really stop listening (Linux takes a listener back to CLOSE on shutdown()): connect() is then refused.
    st.round.listener.shutdown(socket.SHUT_RDWR)
    pressed = st.press("connect")
    assert not pressed.ran and "ConnectionRefusedError" in pressed.error and "start over" in pressed.error
    assert "ConnectionRefusedError" in st.problem.value and "connect" not in st.done
    st.close()
    assert not sockcourse.running()


def test_stop_all_close_and_a_namesake_close_the_sockets():
    st = lifecycle_stepper(draw=state_diagram, name="stepper cleanup").stepper
    for name in ("server socket", "bind", "listen", "client socket", "connect"):
        st.press(name)
    sockets = st.round.sockets()
    assert sockets and all(s.fileno() != -1 for s in sockets)
    assert sockcourse.stop_all() == 1
    assert all(s.fileno() == -1 for s in sockets) and not sockcourse.running()
    assert "closed from outside" in st.problem.value and _enabled(st) == {"server socket", "client socket"}
    # A stepper made again under the same name (its cell run again) closes the older one's sockets.
    st.press("server socket")
    old = st.round.sockets()
    newer = lifecycle_stepper(draw=state_diagram, name="stepper cleanup").stepper
    assert all(s.fileno() == -1 for s in old) and not sockcourse.running()
    newer.press("server socket")
    box = newer.box
    box.close()  # the box's close() is the stepper's close()
    assert not sockcourse.running() and _enabled(newer) == set() and newer.restart.disabled
    assert not newer.press("bind").ran and "closed" in newer.problem.value
    st.close()
    for one in (st, newer):
        assert one.wait_drawn(30)
    assert not _drawing_threads()


def test_without_a_drawing_function_the_table_is_the_whole_answer():
    st = lifecycle_stepper(name="stepper plain").stepper
    for name in ("server socket", "bind", "listen"):
        pressed = st.press(name)
    assert pressed.table.of_role("listening") == ["LISTEN"] and st.picture not in st.picture_slot.children
    assert not _drawing_threads()
    st.close()
    with pytest.raises(ArgumentTypeError, match=r"draw argument must be a function .* but got 'state_diagram'"):
        lifecycle_stepper(draw="state_diagram")


def test_bad_step_names_get_a_sentence():
    st = lifecycle_stepper(draw=state_diagram, name="stepper names").stepper
    with pytest.raises(ArgumentError, match=r"no step called 'socket'; say 'server socket' or 'client socket'"):
        st.press("socket")
    with pytest.raises(ArgumentError, match=r"no step called 'jump'; the steps are 'server socket', 'bind'"):
        st.press("jump")
    with pytest.raises(ArgumentTypeError, match=r"name of a step as a string, .* but got 3;"):
        st.press(3)
    st.close()


def test_where_widgets_do_not_render_the_text_lists_the_calls_in_order():
    box = lifecycle_stepper(draw=state_diagram, name="stepper text")
    bundle = box._repr_mimebundle_()
    data = bundle[0] if isinstance(bundle, tuple) else bundle
    text = data["text/plain"]
    assert text == fallback_text() and "application/vnd.jupyter.widget-view+json" in data
    positions = [text.index(step.code.splitlines()[0]) for step in STEPS]
    assert positions == sorted(positions)
    assert "127.0.0.1:" not in text  # nothing in it changes between runs
    box.close()


def test_states_after_connect_come_from_the_kernel():
    # The stepper's table is kernel.states() of its own sockets: asked again here, the kernel says the same.
    st = lifecycle_stepper(draw=state_diagram, name="stepper kernel").stepper
    for name in ("server socket", "bind", "listen", "client socket", "connect"):
        pressed = st.press(name)
    again = kernel.states(st.round.listener, st.round.client)
    assert sorted(again.states()) == sorted(pressed.table.states()) == ["ESTABLISHED", "ESTABLISHED", "LISTEN"]
    assert kernel.accept_queue(st.round.listener) == 1
    st.close()
