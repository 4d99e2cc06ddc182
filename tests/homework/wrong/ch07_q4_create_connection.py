"""q4 with one mistake: create_connection() with a timeout, its exceptions turned into numbers."""
QUESTION = "07_options.q4"
EXPECT = {"fails": ["non-blocking"], "hint": "non-blocking", "passes": ["listening", "refused", "pending", "closed"]}
import socket


def answer(address, timeout):
    try:
        socket.create_connection(address, timeout=timeout).close()
    except TimeoutError:
        return None
    except OSError as exc:
        return exc.errno
    return 0
