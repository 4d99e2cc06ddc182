"""Layer 2, what a notebook talks to: servers on threads, asyncio servers, stock handlers, the four models."""

from .threaded import TRANSPORTS, Server, serve

__all__ = ["Server", "TRANSPORTS", "serve"]
