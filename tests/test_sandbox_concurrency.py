"""The sandbox when thinkbench is not alone on the machine, and when thinkbench itself dies.

Other scorers run as subprocesses of the test. Whatever they start is found by the marker in its
environment, `thinkbench-sandbox-<scorer pid>-`, and by the scorer's command line (the sandbox's
own helper processes are forks of the scorer), and is killed when the test ends, pass or fail.
"""
from __future__ import annotations

import errno
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tasks.code import sandbox
from tasks.code.sandbox import IS_ROOT, Limits, run_program

REPO = Path(__file__).resolve().parents[1]
FORK_BOMB = "import os\nwhile True:\n    try:\n        os.fork()\n    except OSError:\n        pass"
KILL_ALL = "import os, time\nwhile True:\n    try:\n        os.kill(-1, 9)\n    except OSError:\n        pass"
DETACHED_BOMB = ("import os, time\nif os.fork() == 0:\n    os.setsid()\n    if os.fork() == 0:\n"
                 "        while True:\n            try:\n                os.fork()\n            except OSError:\n"
                 "                time.sleep(0.01)\n    os._exit(0)\ntime.sleep(60)")
HOSTILE = [FORK_BOMB, KILL_ALL, DETACHED_BOMB, FORK_BOMB]
# Root is exempt from RLIMIT_NPROC, so a guarded (uid 0) fork bomb would be unbounded: there,
# trees of detached sleepers stand in for the bombs.
DETACHED_TREE = ("import os, time\nfor _ in range(8):\n    if os.fork() == 0:\n        os.setsid()\n"
                 "        if os.fork() == 0:\n            time.sleep(600)\n        os._exit(0)\ntime.sleep(600)")

# A scorer in its own process: runs the hostile programs, `workers` at a time, round after round
# until `stop` exists (or once, with a long deadline, when `stop` is "-"). Prints one line a check.
SCORER = r'''
import os, sys
from concurrent.futures import ThreadPoolExecutor
from tasks.code import sandbox
tag, mode, wall, stop = sys.argv[1], sys.argv[2], float(sys.argv[3]), sys.argv[4]
programs = sys.argv[5:]
sandbox.USE_USER_NAMESPACES = mode != "plain"
limits = sandbox.Limits(wall_s=wall, cpu_s=int(wall), memory_mb=256, processes=64)
with ThreadPoolExecutor(len(programs)) as pool:
    while True:
        for o in pool.map(lambda p: sandbox.run_program(p, limits, isolate=mode == "isolated"), programs):
            print(("PASS " if o.passed else "FAIL ") + o.reason, flush=True)
        if stop == "-" or os.path.exists(stop):
            break
'''


def _procs_of(scorer_pid: int, tag: str) -> list[int]:
    """Live processes of that scorer's checks: the marker in the environment, or the scorer's
    command line (its forks: the namespace inits)."""
    marker, tag_b = f"thinkbench-sandbox-{scorer_pid}-".encode(), tag.encode()
    out = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit() or int(pid) == scorer_pid:
            continue
        try:
            with open(f"/proc/{pid}/status") as fh:
                if any(line.startswith("State:") and line.split()[1] == "Z" for line in fh):
                    continue
            with open(f"/proc/{pid}/environ", "rb") as fh:
                env = fh.read()
            with open(f"/proc/{pid}/cmdline", "rb") as fh:
                cmd = fh.read()
            if marker in env or tag_b in cmd:
                out.append(int(pid))
        except OSError:
            pass
    return out


class Scorer:
    """A scorer subprocess; `close()` kills it and everything its checks started."""

    def __init__(self, mode: str, wall: float, stop: str, programs: list[str], tmp: Path) -> None:
        self.tag = f"tb-test-scorer-{os.getpid()}-{time.monotonic_ns()}"
        self.out = open(tmp / f"{self.tag}.out", "w+")
        self.err = open(tmp / f"{self.tag}.err", "w+")
        env = dict(os.environ, PYTHONPATH=str(REPO))
        self.proc = subprocess.Popen(
            [sys.executable, "-c", SCORER, self.tag, mode, str(wall), stop, *programs],
            stdout=self.out, stderr=self.err, env=env, cwd=REPO, start_new_session=True)

    def procs(self) -> list[int]:
        return _procs_of(self.proc.pid, self.tag)

    def wait_for_checks(self, at_least: int, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while len(self.procs()) < at_least:
            assert self.proc.poll() is None, f"scorer exited early: {self.text()}"
            assert time.monotonic() < deadline, f"no {at_least} sandboxed processes after {timeout} s"
            time.sleep(0.1)

    def text(self) -> tuple[str, str]:
        self.out.seek(0)
        self.err.seek(0)
        return self.out.read(), self.err.read()

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        for _ in range(500):  # cleanup even when the sandbox failed to: nothing may keep forking
            left = _procs_of(self.proc.pid, self.tag)
            if not left:
                break
            for pid in left:
                try:
                    os.kill(pid, signal.SIGKILL)
                except OSError:
                    pass
            time.sleep(0.02)
        self.out.close()
        self.err.close()


def _user_namespaces() -> bool:
    try:
        pid = os.fork()
    except OSError:
        return False
    if pid == 0:
        os._exit(0 if sandbox._libc.unshare(sandbox.CLONE_NEWUSER | sandbox.CLONE_NEWPID) == 0 else 1)
    return os.waitpid(pid, 0)[1] == 0


CONTAINED_MODES = [pytest.param("isolated", id="isolated"), pytest.param("guarded", id="guarded")]


@pytest.fixture(params=CONTAINED_MODES)
def mode(request) -> str:
    if request.param == "isolated" and not IS_ROOT:
        pytest.skip("namespaces and uid switching need root")
    if request.param == "guarded" and not _user_namespaces():
        pytest.skip("this kernel refuses unprivileged user namespaces: the fallback has no PID namespace")
    return request.param


def test_sigkilled_scorer_leaves_no_sandboxed_process(mode: str, tmp_path: Path) -> None:
    programs = HOSTILE if mode == "isolated" or not IS_ROOT else [DETACHED_TREE] * 3 + [KILL_ALL]
    scorer = Scorer(mode, 60, "-", programs, tmp_path)
    try:
        scorer.wait_for_checks(at_least=20)
        time.sleep(0.5)  # mid-check: the bombs are forking
        scorer.proc.kill()
        scorer.proc.wait()
        killed_at = time.monotonic()
        empty_since = None
        while time.monotonic() - killed_at < 10:
            left = scorer.procs()
            if left:
                empty_since = None
            elif empty_since is None:
                empty_since = time.monotonic()
            elif time.monotonic() - empty_since > 1:
                break  # none for a second: none can come back
            time.sleep(0.05)
        assert scorer.procs() == [], "sandboxed processes outlived their scorer"
    finally:
        scorer.close()


@pytest.mark.skipif(not IS_ROOT, reason="uid leases are for isolated (root) sandboxes")
def test_uid_leases_are_unique_across_processes() -> None:
    held = [sandbox.UidLease() for _ in range(20)]
    try:
        code = ("from tasks.code import sandbox\n"
                "print(' '.join(str(sandbox.UidLease().uid) for _ in range(200)))")
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                             env=dict(os.environ, PYTHONPATH=str(REPO)), cwd=REPO, timeout=60).stdout
        theirs = {int(u) for u in out.split()}
        assert len(theirs) == 200 and not theirs & {lease.uid for lease in held}
        assert len({lease.uid for lease in held}) == 20  # and none twice within one process
    finally:
        for lease in held:
            lease.release()


@pytest.mark.skipif(not IS_ROOT, reason="uid leases are for isolated (root) sandboxes")
def test_uid_of_a_dead_holder_is_swept_before_reuse(monkeypatch: pytest.MonkeyPatch) -> None:
    lease = sandbox.UidLease()
    lease.release(clean=False)  # as if the holder had died holding it
    monkeypatch.setattr(sandbox.secrets, "randbelow", lambda n: lease.uid - sandbox.UID_BASE)
    swept = []
    monkeypatch.setattr(sandbox, "_sweep", lambda uid, marker: swept.append(uid) or True)
    again = sandbox.UidLease()
    again.release()
    assert again.uid == lease.uid and swept == [lease.uid]


def test_fork_failing_for_lack_of_resources_is_retried(monkeypatch: pytest.MonkeyPatch) -> None:
    real, calls = sandbox._fork, []

    def exhausted_twice(plan, isolate):
        calls.append(1)
        if len(calls) <= 2:
            raise BlockingIOError(errno.EAGAIN, "Resource temporarily unavailable")
        return real(plan, isolate)

    monkeypatch.setattr(sandbox, "_fork", exhausted_twice)
    assert run_program("assert 1 + 1 == 2", Limits(wall_s=5)).passed and len(calls) == 3


def test_a_machine_out_of_processes_fails_the_check_without_a_traceback(monkeypatch: pytest.MonkeyPatch) -> None:
    def exhausted(plan, isolate):
        raise BlockingIOError(errno.EAGAIN, "Resource temporarily unavailable")

    monkeypatch.setattr(sandbox, "_fork", exhausted)
    monkeypatch.setattr(sandbox, "START_TRIES", 2)
    out = run_program("pass", Limits(wall_s=5))
    assert not out.passed and out.reason.startswith("sandbox could not start")


@pytest.mark.slow
def test_two_scorers_at_once_hostile_and_humaneval(tmp_path: Path) -> None:
    """One scorer checks fork bombs and kill(-1) loops while this one checks HumanEval's
    canonical solutions: all 164 pass, and the hostile scorer's checks all fail with reasons."""
    from tasks.code.humaneval import HumanEvalTask

    stop = tmp_path / "stop"
    mode = "isolated" if IS_ROOT else "guarded"
    scorer = Scorer(mode, 4, str(stop), HOSTILE, tmp_path)
    try:
        scorer.wait_for_checks(at_least=10)
        task = HumanEvalTask()
        problems = task.problems("test", None, 0)
        verdicts = task.check_many([p.meta["canonical_solution"] for p in problems], problems)
        failed = [(p.id, v.reason) for p, v in zip(problems, verdicts) if not v.correct]
        assert scorer.proc.poll() is None, f"the hostile scorer died: {scorer.text()}"
        stop.touch()
        scorer.proc.wait(timeout=60)
        out, err = scorer.text()
        assert failed == []
        assert scorer.proc.returncode == 0 and "Traceback" not in err, err[-2000:]
        lines = out.splitlines()
        assert lines and all(line.startswith("FAIL ") for line in lines)
        assert not any("could not start" in line or "setup failed" in line for line in lines), out
    finally:
        stop.touch()
        scorer.close()
