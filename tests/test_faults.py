"""The link's fault decisions, tested exactly and without a socket: sockcourse.protocols.faults.

The decisions are pure functions of the settings, an rng, a direction's
state, the data and the time, so each rule of the arithmetic gets an exact
test: RTO doubling (RFC 6298), head-of-line blocking, the reset_after cut,
giving up after MAX_RETRANSMITS, gaps between chunks, and a fixed number of
draws per datagram. A scripted rng says which transmission is lost; the
seeded runs are compared with what the link decided before the decisions
were moved here, so seeded notebooks still see the same fates.
"""

from __future__ import annotations

import ast
import random
from pathlib import Path

import pytest

from sockcourse.link.settings import Settings
from sockcourse.protocols import faults
from sockcourse.protocols.faults import (MAX_RETRANSMITS, Fate, PipeState, datagram_fate, plan_pieces,
                                         retry_wait)

NOW = 100.0


class Scripted:
    """An rng that returns the numbers it was given, in order, and counts the draws."""

    def __init__(self, *numbers: float):
        self.numbers = list(numbers)
        self.draws = 0

    def random(self) -> float:
        self.draws += 1
        return self.numbers.pop(0)


def shape(items) -> list[tuple]:
    """Items as (seconds after NOW, kind, bytes, action), rounded where floats add up."""
    return [(round(item.due - NOW, 9), item.kind, item.data, item.action) for item in items]


# -- TCP: retransmission ------------------------------------------------------------
def test_each_lost_retry_doubles_the_retransmission_timeout():
    settings = Settings(loss=0.5, rto=0.1)
    # One draw for jitter, then one per transmission: lost, lost, lost, through.
    rng = Scripted(0.0, 0.1, 0.1, 0.1, 0.9)
    items = plan_pieces(settings, rng, PipeState(), b"abc", NOW)
    assert shape(items) == [(0.0, "lost", b"abc", "dropped"), (0.1, "lost", b"abc", "dropped"),
                            (0.3, "lost", b"abc", "dropped"), (0.7, "data", b"abc", "retransmitted")]
    assert rng.draws == 5
    assert [retry_wait(0.1, k) for k in range(4)] == pytest.approx([0.0, 0.1, 0.3, 0.7])


def test_a_piece_that_arrives_first_time_is_delivered_at_once_without_faults():
    state = PipeState()
    items = plan_pieces(Settings(loss=0.5), Scripted(0.0, 0.9), state, b"hello", NOW)
    assert shape(items) == [(0.0, "data", b"hello", "delivered")]
    assert items[0].received == NOW
    assert (state.forwarded, state.last_due, state.hol_until) == (5, NOW, 0.0)


def test_delay_and_jitter_add_up_and_the_piece_is_delayed():
    items = plan_pieces(Settings(delay=0.05, jitter=0.02), Scripted(0.5, 0.9), PipeState(), b"x", NOW)
    assert shape(items) == [(0.06, "data", b"x", "delayed")]


def test_every_retry_lost_gives_up_after_max_retransmits_and_resets():
    settings = Settings(loss=1.0, rto=0.01, chunk=2)
    rng = Scripted(0.0, *[0.0] * (MAX_RETRANSMITS + 1), 0.0, 0.0)
    state = PipeState()
    items = plan_pieces(settings, rng, state, b"aabb", NOW)
    lost = [item for item in items if item.kind == "lost"]
    assert len(lost) == MAX_RETRANSMITS + 1 == 6
    assert [round(item.due - NOW, 9) for item in lost] == [0.0, 0.01, 0.03, 0.07, 0.15, 0.31]
    # The last try would have left rto * (2**6 - 1) after the first: TCP resets instead.
    after = items[len(lost):]
    assert [(round(item.due - NOW, 9), item.kind, item.why) for item in after] == [(0.63, "reset", "retries")]
    # Nothing after the hopeless piece is planned: the second piece drew nothing.
    assert rng.draws == 1 + MAX_RETRANSMITS + 1 and len(rng.numbers) == 2
    assert state.forwarded == 4  # counted when read, as before


def test_one_loss_fewer_than_the_limit_still_gets_through():
    rng = Scripted(0.0, *[0.0] * MAX_RETRANSMITS, 0.99)
    items = plan_pieces(Settings(loss=0.9, rto=0.01), rng, PipeState(), b"z", NOW)
    assert [item.kind for item in items] == ["lost"] * MAX_RETRANSMITS + ["data"]
    assert items[-1].action == "retransmitted" and round(items[-1].due - NOW, 9) == 0.31


# -- TCP: order ---------------------------------------------------------------------------
def test_pieces_behind_a_retransmitted_one_wait_for_it():
    settings = Settings(loss=0.5, rto=0.2, chunk=2, gap=0.0)
    state = PipeState()
    # Piece one: lost once. Pieces two and three: through at once, yet they wait.
    rng = Scripted(0.0, 0.1, 0.9, 0.0, 0.9, 0.0, 0.9)
    items = plan_pieces(settings, rng, state, b"aabbcc", NOW)
    assert shape(items) == [(0.0, "lost", b"aa", "dropped"), (0.2, "data", b"aa", "retransmitted"),
                            (0.2, "data", b"bb", "delayed"), (0.2, "data", b"cc", "delayed")]
    assert state.hol_until == NOW + 0.2 and state.last_due == NOW + 0.2
    # A later read that would have arrived before the retransmission still waits for it.
    later = plan_pieces(settings, Scripted(0.0, 0.9), state, b"dd", NOW + 0.05)
    assert [(round(item.due - NOW, 9), item.action) for item in later] == [(0.2, "delayed")]
    # Once the retransmitted piece has gone, the next read passes at once again.
    after = plan_pieces(settings, Scripted(0.0, 0.9), state, b"ee", NOW + 0.5)
    assert [(round(item.due - NOW, 9), item.action) for item in after] == [(0.5, "delivered")]


def test_chunks_are_cut_to_size_and_spaced_by_the_gap():
    items = plan_pieces(Settings(chunk=4, gap=0.005), Scripted(*[0.0] * 6), PipeState(), b"abcdefghij", NOW)
    # The first piece leaves at once; each next one `gap` after the one before (pacing, not a delay).
    assert shape(items) == [(0.0, "data", b"abcd", "delivered"), (0.005, "data", b"efgh", "delivered"),
                            (0.01, "data", b"ij", "delivered")]


# -- TCP: reset_after ---------------------------------------------------------------------
def test_reset_after_cuts_the_data_at_the_byte_and_resets_after_it():
    state = PipeState()
    items = plan_pieces(Settings(reset_after=5), Scripted(0.0, 0.9), state, b"0123456789", NOW)
    assert shape(items) == [(0.0, "data", b"01234", "delivered"), (0.0, "reset", b"", "")]
    assert items[-1].why == "" and state.forwarded == 5


def test_reset_after_counts_across_reads_and_resets_at_the_exact_byte():
    settings = Settings(reset_after=5)
    state = PipeState()
    assert [item.kind for item in plan_pieces(settings, Scripted(0.0, 0.9), state, b"abc", NOW)] == ["data"]
    items = plan_pieces(settings, Scripted(0.0, 0.9), state, b"de", NOW + 1)
    assert [(item.kind, item.data) for item in items] == [("data", b"de"), ("reset", b"")]
    # Nothing is left to send: a later read resets at once and draws nothing.
    rng = Scripted()
    assert [(item.kind, item.due) for item in plan_pieces(settings, rng, state, b"f", NOW + 2)] == \
        [("reset", NOW + 2)]
    assert rng.draws == 0


def test_reset_after_waits_for_the_pieces_still_due():
    items = plan_pieces(Settings(reset_after=2, delay=0.1), Scripted(0.0, 0.9), PipeState(), b"abc", NOW)
    assert shape(items) == [(0.1, "data", b"ab", "delayed"), (0.1, "reset", b"", "")]


# -- TCP: the same draws as before ------------------------------------------------------
def _seeded(seed: int):
    return random.Random(f"sockcourse-link:{seed}:to_server")  # as the link seeds a direction


def test_seeded_plans_are_those_the_link_made_before_the_decisions_moved_here():
    # Recorded from Link._plan of the link before this module existed.
    settings = Settings(delay=0.01, jitter=0.02, loss=0.3, chunk=3, gap=0.005, rto=0.05)
    state, rng = PipeState(), _seeded(5)
    plans = [plan_pieces(settings, rng, state, data, NOW) for data in (b"abcdefghij", b"klmnopq", b"rs")]
    got = [[(round(i.due - NOW, 9), i.kind, len(i.data), i.action) for i in plan if i.kind != "lost"]
           for plan in plans]
    assert got == [[(0.02017276, "data", 3, "delayed"), (0.061583517, "data", 3, "retransmitted"),
                    (0.066583517, "data", 3, "delayed"), (0.071583517, "data", 1, "delayed")],
                   [(0.076583517, "data", 3, "delayed"), (0.081583517, "data", 3, "delayed"),
                    (0.086583517, "data", 1, "delayed")],
                   [(0.091583517, "data", 2, "delayed")]]
    assert [len(i.data) for plan in plans for i in plan if i.kind == "lost"] == [3]
    assert (state.forwarded, round(state.last_due - NOW, 9), round(state.hol_until - NOW, 9)) == \
        (19, 0.091583517, 0.061583517)

    state = PipeState()
    plan = plan_pieces(Settings(loss=0.6, rto=0.01, chunk=2, jitter=0.004), _seeded(1), state,
                       b"0123456789" * 4, NOW)
    assert [(round(i.due - NOW, 9), i.kind, i.action) for i in plan if i.kind != "lost"] == [
        (0.002051399, "data", "delayed"), (0.072494662, "data", "retransmitted"),
        (0.077494662, "data", "delayed"), (0.082494662, "data", "retransmitted"),
        (0.312471997, "data", "retransmitted"), (0.317471997, "data", "delayed"), (0.632593191, "reset", "")]
    assert sum(i.kind == "lost" for i in plan) == 16 and plan[-1].why == "retries"


# -- UDP --------------------------------------------------------------------------------
def test_a_datagram_takes_exactly_four_draws_whatever_its_fate():
    for settings in (Settings(), Settings(loss=1.0), Settings(duplicate=1.0, reorder=1.0, jitter=0.1)):
        rng = Scripted(0.5, 0.5, 0.5, 0.5, 0.7)
        datagram_fate(settings, rng)
        assert rng.draws == faults.DATAGRAM_DRAWS == 4


def test_each_draw_decides_one_thing_in_a_fixed_order():
    settings = Settings(loss=0.2, duplicate=0.2, reorder=0.2, delay=0.01, jitter=0.1)
    assert datagram_fate(settings, Scripted(0.1, 0.9, 0.9, 0.5)) == Fate(True, 1, False, pytest.approx(0.06))
    assert datagram_fate(settings, Scripted(0.9, 0.1, 0.9, 0.0)) == Fate(False, 2, False, 0.01)
    assert datagram_fate(settings, Scripted(0.9, 0.9, 0.1, 1.0)) == Fate(False, 1, True, pytest.approx(0.11))
    # The bounds are strict: a draw equal to the probability does not make it happen.
    assert datagram_fate(Settings(loss=0.5), Scripted(0.5, 0.0, 0.0, 0.0)).lost is False


def test_the_same_seed_gives_the_same_fates_and_another_seed_others():
    settings = Settings(loss=0.1, duplicate=0.05, reorder=0.1, delay=0.02, jitter=0.01)

    def fates(seed: int) -> list[Fate]:
        rng = _seeded(seed)
        return [datagram_fate(settings, rng) for _ in range(40)]

    assert fates(23) == fates(23)
    assert fates(23) != fates(24)
    # Recorded from the link before this module existed (chapter 02 shows this seed's run).
    run = fates(23)
    assert [i for i, fate in enumerate(run) if fate.lost] == [17, 33, 39]
    assert [i for i, fate in enumerate(run) if fate.copies == 2] == [10, 22]
    assert [i for i, fate in enumerate(run) if fate.held_back] == [3, 25]
    assert (run[0].wait, run[1].wait) == pytest.approx((0.029480678674, 0.020253788067))


# -- purity -----------------------------------------------------------------------------
def test_the_decisions_import_nothing_that_does_io_or_keeps_time():
    source = Path(faults.__file__).read_text()
    imported = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            imported |= {alias.name.partition(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            imported.add("." * node.level + (node.module or ""))
    assert imported <= {"__future__", "dataclasses", "typing"}, imported
