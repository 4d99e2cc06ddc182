"""What a check may leave behind in this process, counted the same way by every chapter's re-run test."""

from __future__ import annotations

import os
import threading
import time


def descriptors() -> int:
    """How many file descriptors this process has open (0 where /proc is missing)."""
    return len(os.listdir("/proc/self/fd")) if os.path.isdir("/proc/self/fd") else 0


def children() -> list[int]:
    """Our child processes that still exist (zombies included); empty where /proc is missing."""
    me, found = str(os.getpid()), []
    if not os.path.isdir("/proc"):
        return found
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue  # it ended while we looked
        if fields[1] == me:
            found.append(int(entry))
    return found


def settle(before_threads: set, timeout: float = 2.0) -> list:
    """The threads started since `before_threads` that are still alive after waiting up to `timeout` s."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        extra = [t for t in threading.enumerate() if t not in before_threads and t.is_alive()]
        if not extra:
            return []
        time.sleep(0.02)
    return extra
