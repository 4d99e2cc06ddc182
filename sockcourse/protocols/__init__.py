"""Layer 1, protocols as data and pure functions: no socket, no thread, no subprocess.

Each module here holds what a protocol *says* (states, record layouts, the
link's fault decisions) as tables and functions of bytes and numbers, so it is
tested exactly and drawn by `viz` without any I/O (h11's habit).
"""
