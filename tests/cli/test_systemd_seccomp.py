"""The unit's ExecStart under a seccomp filter like systemd's, asked to retrain: the
retraining child lowers its priority (setpriority). Denied with EPERM (what the unit's
SystemCallErrorNumber= makes of any denied call) it trains at the same priority;
killed (the old unit: `~@resources` with no errno) the pool breaks.

The filter is a minimal seccomp-bpf program installed with prctl in the agent's
process before exec (inherited by the retraining child), as systemd installs its own:
only setpriority is filtered, every other call is allowed."""

from __future__ import annotations

import ctypes
import json
import os
import platform
import shlex
import shutil
import struct
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.conftest import REPO, STOP_TIMEOUT_S, agent_env, poll_until, run_ottwatch

PR_SET_NO_NEW_PRIVS = 38
PR_SET_SECCOMP = 22
SECCOMP_MODE_FILTER = 2
SECCOMP_RET_KILL_PROCESS = 0x80000000
SECCOMP_RET_ERRNO = 0x00050000
SECCOMP_RET_ALLOW = 0x7FFF0000
EPERM = 1
BPF_LD_W_ABS = 0x20
BPF_JEQ_K = 0x15
BPF_RET_K = 0x06
SECCOMP_DATA_NR = 0
SECCOMP_DATA_ARCH = 4
# machine -> (AUDIT_ARCH_*, __NR_setpriority)
ARCHES = {"x86_64": (0xC000003E, 141), "aarch64": (0xC00000B7, 140)}

KILL = SECCOMP_RET_KILL_PROCESS
DENY_EPERM = SECCOMP_RET_ERRNO | EPERM


class SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]


def setpriority_filter(action: int) -> bytes:
    """BPF: on this architecture, setpriority -> `action`; everything else allowed."""
    arch, setpriority = ARCHES[platform.machine()]
    program = [
        (BPF_LD_W_ABS, 0, 0, SECCOMP_DATA_ARCH),
        (BPF_JEQ_K, 0, 3, arch),            # another ABI: allow (the unit is =native)
        (BPF_LD_W_ABS, 0, 0, SECCOMP_DATA_NR),
        (BPF_JEQ_K, 0, 1, setpriority),
        (BPF_RET_K, 0, 0, action),
        (BPF_RET_K, 0, 0, SECCOMP_RET_ALLOW),
    ]
    return b"".join(struct.pack("HBBI", *instruction) for instruction in program)


def install_filter(action: int) -> Callable[[], None]:
    """A preexec_fn installing the filter in the child, raising OSError if refused."""
    program = ctypes.create_string_buffer(setpriority_filter(action))
    fprog = SockFprog(len(program.raw) // 8, ctypes.addressof(program))
    prctl = ctypes.CDLL(None, use_errno=True).prctl
    # prctl is variadic: unsigned longs, or the kernel may see garbage in the unused
    # arguments' upper halves (EINVAL)
    prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_void_p, ctypes.c_ulong,
                      ctypes.c_ulong]

    def preexec(program: ctypes.Array[ctypes.c_char] = program) -> None:  # kept alive
        if prctl(PR_SET_NO_NEW_PRIVS, 1, None, 0, 0) != 0 or \
                prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, ctypes.addressof(fprog), 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "seccomp filter refused")

    return preexec


def seccomp_unavailable() -> str | None:
    if platform.machine() not in ARCHES:
        return f"no setpriority number known for {platform.machine()}"
    probe = subprocess.run([sys.executable, "-c", "import os; os.nice(1)"],
                           preexec_fn=install_filter(DENY_EPERM),  # noqa: PLW1509
                           capture_output=True, text=True, check=False)
    if "Operation not permitted" not in probe.stderr:
        return f"seccomp filters cannot be applied here: {probe.stderr.strip()[-200:]}"
    return None


pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="seccomp is Linux-only")


@pytest.fixture(scope="module")
def labelled_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """7000 events with 80 labels and v1 of both models (`ottwatch bench --models`)."""
    folder = tmp_path_factory.mktemp("bench")
    done = run_ottwatch("bench", "-n", "500", "--users", "300", "--models", "--warm", "4000",
                        "--keep", str(folder), "--json", timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    return folder / "bench.db"


@pytest.fixture
def unit_service(tmp_path: Path, labelled_db: Path) -> Iterator[Callable[[int], Path]]:
    """`start(action)`: the unit's ExecStart, as systemd would run it, under the
    setpriority filter; returns the agent's stderr file (the journal stream)."""
    reason = seccomp_unavailable()
    if reason:
        pytest.skip(reason)
    started: list[subprocess.Popen[bytes]] = []

    def start(action: int) -> Path:
        db = tmp_path / "ottwatch.db"
        shutil.copy(labelled_db, db)
        credentials = tmp_path / "credentials"
        credentials.mkdir()
        config = credentials / "ottwatch.toml"
        assert run_ottwatch("config", "init", str(config)).returncode == 0
        config.write_text(config.read_text(encoding="utf-8")
                          .replace("sqlite:////var/lib/ottwatch/ottwatch.db", f"sqlite:///{db}")
                          .replace("/var/log/ott/events.jsonl", str(tmp_path / "events.jsonl")),
                          encoding="utf-8")
        unit = run_ottwatch("systemd-unit").stdout
        exec_start, = (line.removeprefix("ExecStart=") for line in unit.splitlines()
                       if line.startswith("ExecStart="))
        argv = [arg.replace("%d", str(credentials)) for arg in shlex.split(exec_start)]
        stderr_path = tmp_path / "journal"
        with open(stderr_path, "wb") as stderr:
            stream = os.fstat(stderr.fileno())
            env = agent_env({"JOURNAL_STREAM": f"{stream.st_dev}:{stream.st_ino}",
                             "CREDENTIALS_DIRECTORY": str(credentials)})
            started.append(subprocess.Popen(argv, cwd=REPO, env=env, stdin=subprocess.DEVNULL,
                                            stdout=subprocess.DEVNULL, stderr=stderr,
                                            preexec_fn=install_filter(action)))  # noqa: PLW1509
        poll_until(lambda: "agent ready" in journal(stderr_path) or started[-1].poll() is not None,
                   what="agent ready")
        assert started[-1].poll() is None, journal(stderr_path)
        return config

    yield start
    for process in started:
        process.kill()
        process.wait(timeout=STOP_TIMEOUT_S)


def journal(path: Path) -> str:
    return path.read_text(encoding="utf-8", errors="replace")


def retrain_via_agent(config: Path) -> subprocess.CompletedProcess[str]:
    return run_ottwatch("retrain", "--via-agent", "--json", "--timeout", "300",
                        "--config", str(config), timeout=400)


def test_under_the_new_units_filter_the_agent_retrains(unit_service: Callable[[int], Path],
                                                       tmp_path: Path) -> None:
    config = unit_service(DENY_EPERM)

    done = retrain_via_agent(config)

    assert done.returncode == 0, done.stderr[-2000:]
    results = json.loads(done.stdout)
    assert [r["name"] for r in results] == ["ensemble", "predictor"]
    assert all(r["samples"] > 0 and r["version"] for r in results), results
    lines = journal(tmp_path / "journal")
    assert "<6>INFO ottwatch.learning: learning: trained in process" in lines


def test_under_the_old_units_killing_filter_the_retrain_breaks(
        unit_service: Callable[[int], Path]) -> None:
    config = unit_service(KILL)

    done = retrain_via_agent(config)

    assert done.returncode != 0
    assert "BrokenProcessPool" in done.stderr, done.stderr[-2000:]
