"""Tests of `python -m sockcourse bench` and of the C ping-pong it compiles.

The benchmark runs for real, in a subprocess with a time limit; the tests
check the shape of what it reports (every key, a number or null), never how
fast this machine is.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

import pytest

from pathlib import Path

from sockcourse.bench import suite
from sockcourse.bench.c_peer import c_ping_pong
from sockcourse.peers import toolchains as cbuild
from sockcourse.peers.outside import iperf3_gbps

pytestmark = pytest.mark.timeout(180)

REPO = Path(__file__).resolve().parent.parent

NUMBER_KEYS = ("tcp_gbps", "iperf3_gbps", "throughput_ratio", "rtt_us", "c_rtt_us", "rtt_ratio",
               "unix_rtt_us", "unix_gbps",
               "throughput_ratio_min", "throughput_ratio_max", "rtt_ratio_min", "rtt_ratio_max",
               "sockperf_rtt_us", "sockperf_ratio", "sockperf_ratio_min", "sockperf_ratio_max",
               "py_client_c_server_rtt_us", "c_client_py_server_rtt_us")

#: Each ratio with a spread, and the key that says how many trials it is the median of.
SPREADS = {"throughput_ratio": "throughput_trials", "rtt_ratio": "rtt_trials", "sockperf_ratio": "sockperf_trials"}

#: What a run may leave in the repository: source files (others may be writing them meanwhile), caches.
SOURCE_SUFFIXES = {".py", ".pyc", ".md", ".ipynb", ".c", ".toml", ".cfg", ".txt", ".yml", ".yaml"}
SKIPPED_DIRS = {".git", ".venv", "__pycache__", ".pytest_cache", ".ipynb_checkpoints", "build"}

has_sockperf = shutil.which("sockperf") is not None

has_compiler = pytest.mark.skipif(cbuild.compiler() is None, reason="no C compiler on this machine")


def run_cli(*args, timeout=150, env=None):
    return subprocess.run([sys.executable, "-m", "sockcourse", *args], capture_output=True, text=True,
                          timeout=timeout, env=None if env is None else {**os.environ, **env})


def run_cli_in(cwd, *args, timeout=150, env=None):
    return subprocess.run([sys.executable, "-m", "sockcourse", *args], capture_output=True, text=True,
                          timeout=timeout, cwd=cwd, env={**os.environ, **(env or {})})


def repo_files() -> set:
    found = set()
    for folder, dirs, files in os.walk(REPO):
        dirs[:] = [d for d in dirs if d not in SKIPPED_DIRS and not d.endswith(".egg-info")]
        found.update(os.path.join(folder, name) for name in files + [d for d in dirs])
    return found


@pytest.fixture(scope="module")
def quick(tmp_path_factory):
    saved = tmp_path_factory.mktemp("bench") / "saved.json"
    cwd = tmp_path_factory.mktemp("cwd")
    # A private, short TMPDIR (UNIX socket paths are short): whatever the run leaves in it shows.
    tmpdir = tempfile.mkdtemp(prefix="sc-bench-")
    before = repo_files()
    try:
        done = run_cli_in(cwd, "bench", "--quick", "--json", "--save", str(saved), env={"TMPDIR": tmpdir})
        done.left_in_tmp = os.listdir(tmpdir)
    finally:
        shutil.rmtree(tmpdir, ignore_errors=True)
    done.new_in_repo = {path for path in repo_files() - before if Path(path).suffix not in SOURCE_SUFFIXES}
    done.left_in_cwd = os.listdir(cwd)
    done.saved = saved
    return done


def summary_of(done) -> dict:
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_quick_json_has_every_key_as_a_number_or_null(quick):
    assert quick.returncode == 0, f"bench --quick failed:\n{quick.stderr[-2000:]}"
    result = json.loads(quick.stdout.strip().splitlines()[-1])
    for key in NUMBER_KEYS:
        assert key in result, f"the JSON has no {key!r}"
        assert result[key] is None or (isinstance(result[key], (int, float)) and result[key] > 0), (key, result[key])
    for measured in ("tcp_gbps", "rtt_us", "unix_rtt_us", "unix_gbps"):
        assert result[measured] is not None, f"{measured} should always be measured"
    best = result["max_clients"]
    for model in ("asyncio", "selectors", "threads"):
        assert isinstance(best[model], int) and best[model] >= 1, best
    assert best["iterative"] == 1, "the iterative server holds one connection at a time"
    if result["iperf3_gbps"] is None:
        assert result["throughput_ratio"] is None
    else:
        assert result["throughput_ratio"] == pytest.approx(result["tcp_gbps"] / result["iperf3_gbps"])
    if result["c_rtt_us"] is None:
        assert result["rtt_ratio"] is None
    else:
        # The median of the trials' own ratios, so not exactly rtt_us / c_rtt_us (the medians' ratio).
        assert result["rtt_ratio"] is not None and result["rtt_us"] is not None
    assert set(result) == {*suite.KEYS, "plan", "pinned_cpu"}, "every key, and no other"


def test_quick_json_spreads_are_present_and_ordered(quick):
    result = summary_of(quick)
    for ratio, trials in SPREADS.items():
        low, median, high, count = (result[f"{ratio}_min"], result[ratio], result[f"{ratio}_max"], result[trials])
        assert isinstance(count, int) and not isinstance(count, bool) and count >= 0, (trials, count)
        if count == 0:
            assert low is None and median is None and high is None, (ratio, low, median, high)
        else:
            assert None not in (low, median, high), (ratio, low, median, high)
            assert 0 < low <= median <= high, (ratio, low, median, high)
    if cbuild.compiler() is not None:
        assert result["rtt_trials"] == suite.QUICK.trials, "every trial pairs a Python and a C round trip"
        assert result["py_client_c_server_rtt_us"] > 0 and result["c_client_py_server_rtt_us"] > 0
    else:
        assert result["rtt_trials"] == 0 and result["py_client_c_server_rtt_us"] is None
    if shutil.which("iperf3") is None:
        assert result["throughput_trials"] == 0
    else:
        assert result["throughput_trials"] == suite.QUICK.repeats


def test_sockperf_is_the_latency_anchor_where_installed_and_a_sentence_where_not(quick):
    result = summary_of(quick)
    warnings = [line for line in quick.stderr.splitlines() if ": warning: sockperf:" in line]
    if has_sockperf:
        assert result["sockperf_rtt_us"] > 0 and result["sockperf_trials"] == suite.QUICK.sockperf_trials
        assert warnings == [], warnings
    else:
        assert result["sockperf_rtt_us"] is None and result["sockperf_ratio"] is None
        assert len(warnings) == 1 and "sockperf is not installed" in warnings[0], quick.stderr[-2000:]
        assert warnings[0].endswith("."), "one whole sentence"


def test_a_plain_run_writes_nothing_but_what_it_was_asked_to(quick):
    assert quick.returncode == 0, quick.stderr[-2000:]
    assert quick.new_in_repo == set(), f"the run left files in the repository: {sorted(quick.new_in_repo)}"
    assert quick.left_in_cwd == [], f"the run left files in its working folder: {quick.left_in_cwd}"
    assert quick.left_in_tmp == [], f"the run left files in its temporary folder: {quick.left_in_tmp}"
    assert quick.saved.is_file(), "--save PATH is the one file a run writes"


def test_quick_prints_a_table_on_stdout_and_progress_on_stderr(quick):
    table = quick.stdout.strip().splitlines()[:-1]  # the last line is the JSON
    text = "\n".join(table)
    assert "loopback TCP throughput" in text and "TCP round trip, 1 byte, median" in text
    assert "many concurrent clients" in text
    assert f"the median of {suite.QUICK.trials} interleaved trials" in text and "min-max (trials)" in text
    assert "where Python's time goes" in text
    for label in ("C client, C echo peer", "Python client, C echo peer", "C client, Python echo peer",
                  "Python client, Python echo peer"):
        assert label in text, label
    steps = suite.QUICK.steps
    assert f"[{steps}/{steps}]" in quick.stderr and f"[{steps + 1}/" not in quick.stderr, "the step count is right"
    for model in ("iterative", "threads", "selectors", "asyncio"):
        assert any(line.startswith(model) for line in table), f"no row for {model}"
    assert "[1/" in quick.stderr and "bench: finished" in quick.stderr
    assert "{" not in text, "JSON belongs on the last line only"


def test_save_writes_the_summary_and_every_many_clients_run(quick):
    saved = json.loads(quick.saved.read_text())
    assert saved["about"]["summary"]["plan"] == "quick"
    assert saved["about"]["summary"]["max_clients"] == json.loads(quick.stdout.splitlines()[-1])["max_clients"]
    assert {run["model"] for run in saved["runs"]} == {"iterative", "threads", "selectors", "asyncio"}
    assert all(run["ok"] == (run["echoed"] == run["clients"]) for run in saved["runs"])


def test_help_names_the_options():
    done = run_cli("bench", "--help", timeout=30)
    assert done.returncode == 0
    for option in ("--quick", "--json", "--save"):
        assert option in done.stdout


def test_bench_is_listed_among_the_commands():
    done = run_cli("--help", timeout=30)
    assert "bench" in done.stdout


def test_iperf3_is_measured_where_installed_and_none_otherwise():
    value = iperf3_gbps(0.5)
    if value is None:
        assert shutil.which("iperf3") is None
    else:
        assert value > 0


def test_a_compiler_that_fails_is_a_warning_not_a_traceback():
    # `false` is a real program that exits with 1 and prints nothing: a compiler that exists and fails.
    if shutil.which("false") is None:
        pytest.skip("this machine has no 'false' program to stand for a broken compiler")
    done = run_cli("bench", "--quick", "--json", env={"CC": "false"})
    assert "Traceback" not in done.stderr, done.stderr[-3000:]
    assert done.returncode == 0, f"a broken yardstick is no failure of the course:\n{done.stderr[-2000:]}"
    warnings = [line for line in done.stderr.splitlines() if ": warning: C round trips:" in line]
    assert len(warnings) == 1, done.stderr[-2000:]
    assert "false" in warnings[0] and "c_rtt_us is null" in warnings[0], warnings[0]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["c_rtt_us"] is None and result["rtt_ratio"] is None
    assert result["rtt_ratio_min"] is None and result["rtt_ratio_max"] is None and result["rtt_trials"] == 0
    assert result["py_client_c_server_rtt_us"] is None and result["c_client_py_server_rtt_us"] is None
    assert result["rtt_us"] is not None, "the Python round trips are measured all the same"
    # The run went on past the C step: the many-clients step ran and found every model.
    assert "many clients" in done.stderr and result["max_clients"]["iterative"] == 1, result


@pytest.mark.parametrize("make, words", [
    (lambda d: d / "no-such-folder" / "x.json", ["does not exist", "no-such-folder"]),
    (lambda d: d, ["is a folder", "measured.json"]),
    (lambda d: (d / "a-file").write_text("") or d / "a-file" / "x.json", ["does not exist", "a-file"]),
    (lambda d: "", ["--save", "''"]),
])
def test_a_bad_save_path_is_refused_before_anything_is_measured(tmp_path, make, words):
    path = make(tmp_path)
    started = time.monotonic()
    done = run_cli("bench", "--quick", "--save", str(path), timeout=60)
    assert done.returncode == 2 and done.stdout == "", (done.returncode, done.stderr)
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in done.stderr, done.stderr
    for word in words:
        assert word in lines[0], (word, lines[0])
    assert "[1/" not in done.stderr, "nothing may be measured for a path that cannot be written"
    assert time.monotonic() - started < 30


def test_a_save_path_that_is_fine_is_left_as_it_was_by_the_check(tmp_path):
    from sockcourse.cli.bench import check_save_path

    new, old = tmp_path / "new.json", tmp_path / "old.json"
    old.write_text("earlier results\n")
    check_save_path(str(new))
    check_save_path(str(old))
    assert not new.exists(), "the check must not leave an empty file behind"
    assert old.read_text() == "earlier results\n", "the check must not empty an earlier file"


@has_compiler
@pytest.mark.parametrize("kind", ["tcp", "unix"])
def test_the_c_ping_pong_builds_runs_and_cleans_up(kind):
    before = set(os.listdir(tempfile.gettempdir()))
    samples = c_ping_pong(kind, rounds=300, warmup=5)
    assert len(samples) == 300 and all(0 < s < 1 for s in samples)
    after = set(os.listdir(tempfile.gettempdir()))
    assert not {name for name in after - before if name.startswith("sockcourse-")}, "a temp folder was left behind"


@has_compiler
def test_the_c_program_refuses_bad_arguments_with_a_sentence():
    with cbuild.built("pingpong") as program:
        done = subprocess.run([program, "--rounds", "0"], capture_output=True, text=True, timeout=30)
        assert done.returncode == 2 and "--rounds must be a whole number from 1" in done.stderr
        done = subprocess.run([program, "--fast"], capture_output=True, text=True, timeout=30)
        assert done.returncode == 2 and "unknown argument '--fast'" in done.stderr
        assert os.path.exists(program)
    assert not os.path.exists(program)


@pytest.mark.parametrize("call, words", [
    (lambda: c_ping_pong("udp"), "Unknown kind 'udp'"),
    (lambda: c_ping_pong("tcp", rounds=0), "rounds must be a whole number"),
    (lambda: cbuild.source("java"), "no C peer called 'java'"),
])
def test_cbuild_refuses_bad_input_with_a_sentence(call, words):
    with pytest.raises(ValueError, match=words):
        call()


def test_a_missing_compiler_is_said_in_one_sentence(monkeypatch):
    # An empty PATH and no $CC: this machine then truly has no compiler to find.
    monkeypatch.setenv("PATH", "")
    monkeypatch.delenv("CC", raising=False)
    assert cbuild.compiler() is None
    with pytest.raises(cbuild.BuildError, match="No C compiler was found"):
        with cbuild.built("pingpong"):
            pass
