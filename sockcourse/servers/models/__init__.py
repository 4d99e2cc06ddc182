"""Four ways to serve the same protocol (echo), and the harness that runs any of them.

Each model is one short module, meant to be read whole in the notebook:

- `iterative`: one client at a time, from accept() to close();
- `threads`: one thread accepts, every conversation gets a thread;
- `selector_loop`: one thread, and the kernel says which sockets are ready
  (`selectors.DefaultSelector`: epoll on Linux, kqueue on BSD and macOS);
- `asyncio_streams`: one event loop, a coroutine per client
  (`asyncio.start_server`).

A model is a function `serve(listener, stop)` that gets a listening socket
and serves until `stop` is set: a `threading.Event` for plain functions, an
`asyncio.Event` for `async def` ones. `start(model)` makes the listening
socket, runs the model on a background thread (or on an asyncio loop thread
of its own) and returns a handle with `.address` and `.stop()`, like
`sockcourse.serve()`. A learner's own function with the same shape runs too.
The harness (`start`, `ModelServer`) lives in `harness.py`; this file only
names what a notebook uses.

The listening socket a model gets is a real socket that also remembers the
connections it accepted, so that `stop()` can shut down those still open:
that wakes a thread blocked in recv(), which `stop` alone could not reach.
"""

from . import asyncio_streams, iterative, selector_loop, threads  # noqa: F401 (models.iterative, ...)
from .harness import BACKLOG, MODELS, MODULES, STOP_TIMEOUT, ModelServer, resolve, source, start

__all__ = ["BACKLOG", "MODELS", "MODULES", "ModelServer", "STOP_TIMEOUT", "resolve", "source", "start"]
