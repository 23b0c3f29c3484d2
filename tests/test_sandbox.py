"""Hostile programs: each fails with a reason, nothing outlives its check, the run survives."""
import os
import signal
import time
from pathlib import Path

import pytest

from tasks.code import sandbox
from tasks.code.sandbox import IS_ROOT, Limits, run_many, run_program

FAST = Limits(wall_s=3, cpu_s=2, memory_mb=512, processes=32)
# guarded: user namespaces where the kernel allows them; plain: the fallback without them.
MODES = [pytest.param("isolated", id="isolated"), pytest.param("guarded", id="guarded"),
         pytest.param("plain", id="guarded-plain")]
# Every sandboxed process of this process's checks has this in its environment (and no other
# process has: pytest-xdist workers and other thinkbench runs have their own pid).
OURS = f"thinkbench-sandbox-{os.getpid()}-".encode()


@pytest.fixture(params=MODES)
def isolate(request, monkeypatch: pytest.MonkeyPatch) -> bool:
    if request.param == "isolated" and not IS_ROOT:
        pytest.skip("namespaces and uid switching need root")
    if request.param == "plain":
        monkeypatch.setattr(sandbox, "USE_USER_NAMESPACES", False)
    return request.param == "isolated"


@pytest.fixture(autouse=True)
def _kill_leftovers():
    """Whatever a test's checks left behind dies with the test, even when the test fails."""
    yield
    for _ in range(200):
        left = _own_sandbox_procs()
        if not left:
            return
        for pid in left:
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        time.sleep(0.01)


def run(program: str, isolate: bool, limits: Limits = FAST):
    return run_program(program, limits, isolate=isolate)


def test_passing_and_failing_programs(isolate: bool) -> None:
    assert run("assert sum([1, 2]) == 3\nprint('ok')", isolate).passed
    out = run("assert 1 == 2, 'nope'", isolate)
    assert not out.passed and "AssertionError: nope" in out.reason


@pytest.mark.parametrize("early_exit", ["import sys\nsys.exit(0)", "import os\nos._exit(0)", "raise SystemExit"])
def test_early_exit_zero_is_a_failure(isolate: bool, early_exit: str) -> None:
    out = run(early_exit + "\nassert False, 'tests never ran'", isolate)
    assert not out.passed and out.reason == "exited before the tests finished (status 0)"


def test_infinite_loop_hits_the_cpu_limit(isolate: bool) -> None:
    # A wall clock far above the CPU limit: on a loaded machine (pytest -n 4 on 2 cores) 2 CPU
    # seconds can take longer than FAST's 3 wall seconds.
    out = run("while True: pass", isolate, Limits(wall_s=60, cpu_s=2, memory_mb=512, processes=32))
    assert not out.passed and "SIGXCPU" in out.reason


def test_sleeping_forever_hits_the_wall_clock(isolate: bool) -> None:
    t0 = time.perf_counter()
    out = run("import time\ntime.sleep(60)", isolate)
    assert not out.passed and out.reason.startswith("timed out")
    assert time.perf_counter() - t0 < 8


def test_memory_bomb(isolate: bool) -> None:
    out = run("x = bytearray(8 * 1024**3)", isolate)
    assert not out.passed and "MemoryError" in out.reason


def test_fork_bomb_is_contained_and_cleaned_up(isolate: bool) -> None:
    # Root is exempt from RLIMIT_NPROC: a guarded bomb run as root grows until the deadline, so it
    # gets a short one (isolated and non-root ones are held at `processes`).
    limits = FAST if isolate or not IS_ROOT else Limits(wall_s=1, cpu_s=1, memory_mb=512, processes=32)
    out = run("import os\nwhile True:\n    try:\n        os.fork()\n    except OSError:\n        pass", isolate, limits)
    assert not out.passed
    assert _own_sandbox_procs() == []  # gone when the check returns, not some time later


def _own_sandbox_procs() -> list[int]:
    """Live processes started by this process's sandboxes (zombies are dead: they only await
    reaping). Not other pytest-xdist workers' or other runs': those are not ours to judge."""
    out = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/status") as fh:
                if any(line.startswith("State:") and line.split()[1] == "Z" for line in fh):
                    continue
            with open(f"/proc/{pid}/environ", "rb") as fh:
                if OURS in fh.read():
                    out.append(int(pid))
        except OSError:
            pass
    return out


def test_detached_grandchild_does_not_outlive_the_check(isolate: bool, tmp_path: Path) -> None:
    # setsid + double fork: the grandchild leaves the process group; it must still be killed.
    program = ("import os, time\nif os.fork() == 0:\n    os.setsid()\n    if os.fork() == 0:\n"
               "        time.sleep(30)\n    os._exit(0)\nprint('parent done')")
    out = run(program, isolate)
    assert out.passed
    assert _own_sandbox_procs() == []


@pytest.mark.parametrize("where", ["project", "tmp"])
def test_writing_outside_the_sandbox_is_refused(isolate: bool, tmp_path: Path, where: str) -> None:
    target = (Path.cwd() if where == "project" else tmp_path) / f"pwned-{os.getpid()}.txt"
    out = run(f"open({str(target)!r}, 'w').write('x')", isolate)
    assert not target.exists()
    # Refused (PermissionError), or the path does not exist in its private /tmp.
    assert not out.passed and ("PermissionError" in out.reason or "FileNotFoundError" in out.reason)
    # Its own working directory is writable.
    assert run("open('scratch.txt', 'w').write('fine')\nassert open('scratch.txt').read() == 'fine'", isolate).passed


def test_shared_tmp_is_private_when_isolated() -> None:
    if not IS_ROOT:
        pytest.skip("needs root")
    name = f"/tmp/thinkbench-escape-{os.getpid()}"
    assert run(f"open({name!r}, 'w').write('x')", True).passed  # its own private /tmp ...
    assert not os.path.exists(name)                               # ... not ours


def test_no_network(isolate: bool) -> None:
    out = run("import socket\nsocket.create_connection(('127.0.0.1', 22), timeout=2)", isolate)
    assert not out.passed
    assert any(s in out.reason for s in ("unreachable", "network is disabled", "refused"))


def test_killing_the_parent_fails_and_we_survive(isolate: bool) -> None:
    # Refused (guard), or ignored: the parent is the PID namespace's init, which no signal from
    # inside the namespace can kill. Either way the check runs on and gets its verdict.
    out = run("import os, signal, time\nos.kill(os.getppid(), signal.SIGKILL)\ntime.sleep(0.2)\n"
              "assert False, 'parent still alive'", isolate)
    assert not out.passed and ("PermissionError" in out.reason or "parent still alive" in out.reason)
    out = run("import os, signal\nos.killpg(os.getpgid(os.getppid()), signal.SIGKILL)", isolate)
    assert not out.passed


def test_output_is_bounded(isolate: bool) -> None:
    out = run("print('x' * 5_000_000)", isolate, Limits(wall_s=5, cpu_s=3, output_chars=1000))
    assert out.passed and len(out.stdout) < 1100 and out.stdout.endswith("[... output truncated]")


def test_parallel_checks_keep_their_verdicts() -> None:
    programs = [f"assert {i} % 2 == 0" for i in range(12)]
    outcomes = run_many(programs, FAST, workers=2)
    assert [o.passed for o in outcomes] == [i % 2 == 0 for i in range(12)]
