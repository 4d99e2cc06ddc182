"""q2 as the student copy has it: the stub, not attempted yet."""
QUESTION = "02_udp.q2"
EXPECT = {"status": "not-attempted"}


def answer(sock, address, chunks, timeout=0.2):
    raise NotImplementedError("q2: write send_reliably")
