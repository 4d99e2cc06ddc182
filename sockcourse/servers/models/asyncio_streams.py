"""Model 4, asyncio streams: one event loop, and a coroutine for each client."""

import asyncio
import socket

CHUNK = 65536
BACKLOG = 1024  # start_server() calls listen() again; this keeps the queue the others get


async def echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """One conversation: reads like the blocking loop, but every wait is an `await`."""
    try:
        while data := await reader.read(CHUNK):  # other clients run while this one waits
            writer.write(data)
            await writer.drain()  # wait here if the client reads slower than it sends
    except OSError:
        pass
    finally:
        writer.close()


async def serve(listener: socket.socket, stop: asyncio.Event) -> None:
    """Serve every client with `echo`, each in a task of its own, until `stop` is set."""
    server = await asyncio.start_server(echo, sock=listener, backlog=BACKLOG)
    async with server:  # closes the listening socket on the way out
        await stop.wait()
