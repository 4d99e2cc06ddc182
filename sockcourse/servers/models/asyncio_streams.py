"""Model 4, asyncio streams: one event loop, and a coroutine for each client.

Chapter 04 shows these functions in a cell, word for word (tests/test_models.py checks it).
"""

import asyncio
import socket

CHUNK = 65536
ACCEPT_QUEUE = 1024  # start_server() calls listen() again; this keeps the queue the others get


async def talk_async(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """One conversation: reads like the blocking loop, but every wait is an `await`."""
    try:
        while data := await reader.read(CHUNK):  # other clients run while this one waits
            writer.write(data)
            await writer.drain()  # wait here if the client reads slower than it sends
    except OSError:
        pass
    finally:
        writer.close()


async def serve_asyncio(listener: socket.socket, stop: asyncio.Event) -> None:
    """Serve every client with `talk_async`, each in a task of its own, until `stop` is set."""
    server = await asyncio.start_server(talk_async, sock=listener, backlog=ACCEPT_QUEUE)
    async with server:  # closes the listening socket on the way out
        await stop.wait()


serve = serve_asyncio  # the name the harness looks for
