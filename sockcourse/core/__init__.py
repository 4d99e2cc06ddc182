"""Layer 0, the plumbing every other part stands on; it imports only the standard library.

errors (every course error), checks (argument checks, one sentence each),
addresses (how an address reads, which family a host needs), lifecycle (the
one start/stop template and the registry of running things), binding (the one
place a course socket is bound), trace (what a server did, as data),
loopthread (the asyncio loop on a thread of its own) and limits (the numbers
they share).
"""
