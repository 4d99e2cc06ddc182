"""Tests of the four server models (sockcourse.models) and the harness that runs them.

Every model must pass the same correctness test: 100 clients at once, each
checking that its own bytes come back, and a client that sends one byte at a
time. The harness must bind like every course server (a visible
reuse_address), refuse bad options with a sentence, and stop every model in
time, reporting one that does not return. (The many-clients measurement has
its own tests, in test_manyclients.py.)
"""

from __future__ import annotations

import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from sockcourse import manyclients, models, registry
from sockcourse.core.errors import ArgumentError, HandlerError, UsageError
from sockcourse.servers.models import harness
from conftest import wait_for

pytestmark = pytest.mark.timeout(120)


def model_threads() -> list[str]:
    return [t.name for t in threading.enumerate() if t.name.startswith("sockcourse-model-")]


def one_client(address, number: int) -> bytes:
    """Send this client's own message, half-close, and return everything that came back."""
    message = manyclients.message_for(number, 200 + number)
    with socket.create_connection(address, timeout=10) as client:
        client.sendall(message)
        client.shutdown(socket.SHUT_WR)
        parts = []
        while part := client.recv(65536):
            parts.append(part)
    return b"".join(parts) == message


def byte_by_byte(address) -> bool:
    message = b"one byte at a time, each echoed before the next"
    got = bytearray()
    with socket.create_connection(address, timeout=10) as client:
        for value in message:
            client.sendall(bytes([value]))
            got += client.recv(1)
    return bytes(got) == message


@pytest.mark.parametrize("name", list(models.MODELS))
def test_every_model_echoes_100_concurrent_clients_and_a_byte_at_a_time(name):
    with models.start(name) as server:
        assert server.host == "127.0.0.1" and server.port > 0
        with ThreadPoolExecutor(max_workers=100) as pool:
            results = list(pool.map(lambda n: one_client(server.address, n), range(100)))
        assert results == [True] * 100, f"{results.count(False)} clients got wrong bytes back from {name}"
        assert byte_by_byte(server.address)
    assert not server.running and server not in registry.running()
    wait_for(lambda: not model_threads(), what=f"the {name} model's threads to end")
    server.stop()  # safe twice


@pytest.mark.parametrize("name", list(models.MODELS))
def test_stop_ends_a_model_even_with_a_silent_client_connected(name):
    server = models.start(name)
    with socket.create_connection(server.address, timeout=5) as silent:
        time.sleep(0.1)  # accepted by now (or queued, for the iterative model)
        started = time.monotonic()
        server.stop()
        assert time.monotonic() - started < 3, f"{name} took too long to stop"
        assert silent.recv(10) == b"", "the silent client's connection should be closed"
    wait_for(lambda: not model_threads(), what=f"the {name} model's threads to end")


def test_a_learners_own_model_runs_and_its_bug_is_raised_at_stop():
    def one_shot(listener, stop):
        listener.settimeout(5)
        conn, _ = listener.accept()
        with conn:
            conn.sendall(b"hi")
        raise KeyError("forgot something")

    server = models.start(one_shot)
    with socket.create_connection(server.address, timeout=5) as client:
        assert client.recv(10) == b"hi"
    with pytest.raises(HandlerError, match="raised KeyError") as caught:
        server.stop()
    assert isinstance(caught.value.__cause__, KeyError)


def test_the_asyncio_model_runs_on_a_loop_of_its_own_that_ends_with_it():
    with models.start("asyncio") as server:
        assert one_client(server.address, 7)
        assert any(name == "sockcourse-model-asyncio" for name in model_threads())
    wait_for(lambda: not model_threads(), what="the asyncio model's loop thread to end")


@pytest.mark.parametrize("model, error, words", [
    ("forking", ArgumentError, "Unknown server model 'forking'"),
    (42, TypeError, "must be a name such as 'threads'"),
    (lambda listener: None, TypeError, "takes 1 arguments"),
])
def test_bad_models_are_refused_with_a_sentence(model, error, words):
    with pytest.raises(error, match=words):
        models.start(model)


@pytest.mark.parametrize("options, error, words", [
    ({"backlog": -1}, ValueError, "backlog must be a whole number from 0"),
    ({"backlog": 10**20}, ValueError, "backlog must be a whole number from 0"),
    ({"backlog": "many"}, ValueError, "the default is 1024"),
    ({"host": "8.8.8.8"}, ValueError, "not a loopback address"),
    ({"host": "0.0.0.0"}, ValueError, "every network interface"),
    ({"reuse_address": "yes"}, TypeError, "reuse_address must be True or False"),
])
def test_bad_options_are_refused_with_a_sentence_before_any_socket(options, error, words):
    with pytest.raises(error, match=words) as caught:
        models.start("threads", **options)
    assert isinstance(caught.value, UsageError)
    assert not model_threads()


def test_the_listener_is_bound_by_the_course_with_a_visible_reuse_address():
    for reuse in (True, False):
        with models.start("selectors", reuse_address=reuse) as server:
            assert bool(server._listener.getsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR)) is reuse
            assert repr(server).startswith("<ModelServer selectors tcp 127.0.0.1:") and "running" in repr(server)
            assert byte_by_byte(server.address)
    assert repr(server).endswith("stopped>")


def test_the_package_face_reexports_the_harness():
    assert models.start is harness.start and models.ModelServer is harness.ModelServer
    assert list(models.MODELS) == ["iterative", "threads", "selectors", "asyncio"]
    assert set(models.MODULES) == set(models.MODELS) and models.BACKLOG == 1024 and models.STOP_TIMEOUT > 0
    assert "No public constructor: use `start()`" in models.ModelServer.__doc__


def test_a_model_that_ignores_stop_is_reported_in_time():
    leave = threading.Event()

    def deaf(listener, stop):
        leave.wait(10)  # never looks at `stop`; bounded so the test ends

    server = models.start(deaf)
    started = time.monotonic()
    try:
        with pytest.raises(HandlerError, match="did not return within 0.3 s"):
            server.stop(timeout=0.3)
        assert time.monotonic() - started < 2
        assert server not in registry.running()
    finally:
        leave.set()
    wait_for(lambda: not model_threads(), what="the deaf model's thread to end")


def test_each_model_source_is_one_readable_screen():
    for name in models.MODELS:
        text = models.source(name)
        assert text.startswith('"""Model '), f"{name}'s module should open with its docstring"
        assert len(text.splitlines()) <= 80, f"{name} should fit on one screen (the notebook shows it in cells of 25 lines)"
    with pytest.raises(ValueError, match="Only the course's own models"):
        models.source(lambda listener, stop: None)


# -- the notebook shows the models word for word ------------------------------------------
NOTEBOOK = __import__("pathlib").Path(__file__).resolve().parents[1] / "notebooks" / "04_async.ipynb"

#: The functions (and constants) of each model's module that chapter 04 shows in its cells.
SHOWN = {
    "iterative": ("CHUNK", "TICK", "IDLE", "serve_iterative"),
    "threads": ("talk_in_thread", "serve_threads"),
    "selectors": ("READ,WRITE", "serve_selectors", "accept_waiting", "talk_when_ready", "hang_up"),
    "asyncio": ("ACCEPT_QUEUE", "talk_async", "serve_asyncio"),
}


def _definitions(source: str) -> dict:
    """Top-level definitions and assignments by name, as an AST dump (comments and blank lines aside)."""
    import ast
    found = {}
    for node in ast.parse(source).body:
        if isinstance(node, ast.Assign):
            if not all(isinstance(t, (ast.Name, ast.Tuple)) for t in node.targets):
                continue  # timelines["threads"] = ...: not a definition
            name = ",".join(getattr(t, "id", None) or ",".join(getattr(e, "id", "?") for e in t.elts)
                            for t in node.targets)
        else:
            name = getattr(node, "name", None)
        if name:
            found[name] = ast.dump(node)
    return found


def _notebook_definitions() -> dict:
    import json
    cells = json.loads(NOTEBOOK.read_text(encoding="utf-8"))["cells"]
    found = {}
    for cell in cells:
        if cell["cell_type"] == "code":
            source = "".join(cell["source"])
            try:
                found.update(_definitions(source))
            except SyntaxError:
                continue  # a cell with `await` at the top level: no model there
    return found


def test_the_notebook_shows_each_model_as_the_module_runs_it():
    import inspect
    shown = _notebook_definitions()
    for name, names in SHOWN.items():
        module = _definitions(inspect.getsource(models.MODULES[name]))
        for definition in names:
            assert definition in shown, f"chapter 04 should show {definition} of the {name} model in a cell"
            assert shown[definition] == module[definition], (
                f"chapter 04's {definition} differs from sockcourse/servers/models ({name}); change both together")
        assert models.MODELS[name].__name__ == names[-1 if name != "selectors" else 1]


def test_the_word_for_word_check_fails_on_a_changed_model():
    import inspect
    module = _definitions(inspect.getsource(models.MODULES["iterative"]))
    changed = _definitions(inspect.getsource(models.MODULES["iterative"]).replace("conn.sendall(data)",
                                                                                  "conn.sendall(data[:1])"))
    assert module["serve_iterative"] != changed["serve_iterative"]


def test_a_models_function_from_a_cell_runs_under_the_harness():
    # What the notebook does: a function with the model's shape, defined outside the package.
    namespace = {}  # no __name__, as in exec(): the harness must still name the model
    exec(compile(inspect_source("iterative"), "<cell>", "exec"), namespace)
    with models.start(namespace["serve_iterative"]) as server:
        assert one_client(server.address, 1)


def inspect_source(name: str) -> str:
    import inspect
    return inspect.getsource(models.MODULES[name])
