"""q3 with one mistake: the socket is never closed before the function returns (something else still holds it)."""
QUESTION = "02_udp.q3"
EXPECT = {"fails": ["open"], "hint": "close", "passes": ["closed", "silent"]}
import socket
import threading


def answer(address, timeout=0.5):
    sock = socket.socket(socket.AF_INET6 if ":" in address[0] else socket.AF_INET, socket.SOCK_DGRAM)
    # "Tidied up later": a timer holds the socket and closes it a second after the return, too late for the
    # check (and, unlike a global list, it leaves no unclosed socket behind for the tests that run after).
    threading.Timer(1.0, sock.close).start()
    sock.settimeout(timeout)
    sock.connect(address)
    try:
        sock.send(b"probe")
        sock.recv(2048)
    except TimeoutError:
        return "silent"
    except ConnectionRefusedError:
        return "closed"
    return "open"
