"""q2 with one mistake: a plain close(), which sends FIN and leaves TIME_WAIT behind."""
QUESTION = "07_options.q2"
EXPECT = {"fails": ["reset", "no-time-wait", "unsent", "peer-fin", "ipv6"], "hint": "linger-zero", "passes": ["closed"]}
def answer(sock):
    sock.close()
