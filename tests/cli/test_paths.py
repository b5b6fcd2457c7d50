"""Mistakes in a database path or URL, as a new user makes them: each is one line on
stderr with the fix, exit status 2, no traceback, and nothing is created. Every case
runs the real `ottwatch` in a subprocess."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.conftest import REPO, agent_env

Run = Callable[..., subprocess.CompletedProcess[str]]

NOT_A_DATABASE = b"user_id,ip\nu-1,203.0.113.7\n" * 40

READERS = [
    ("alerts", "list"), ("alerts", "silences"), ("alerts", "ack", "a-1"),
    ("alerts", "silence", "--user", "u-1", "--for", "1h", "--reason", "test"),
    ("export", "--what", "events"), ("tui",), ("explain", "e-1"), ("rings",),
    ("users", "segments"), ("roi",), ("models",), ("predict", "u-1"),
    ("label", "e-1", "--benign"), ("retrain",),
]


def tree(root: Path) -> set[Path]:
    return {p.relative_to(root) for p in root.rglob("*")}


def assert_one_line(result: subprocess.CompletedProcess[str], *fragments: str) -> str:
    assert result.returncode == 2, (result.returncode, result.stderr)
    assert "Traceback" not in result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("ottwatch: ")
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    return lines[0]


@pytest.fixture
def empty_config(tmp_path: Path) -> Path:
    config = tmp_path / "config" / "ottwatch.toml"
    config.parent.mkdir()
    config.write_text("", encoding="utf-8")
    return config


@pytest.mark.parametrize("args", READERS, ids=lambda args: " ".join(args[:2]))
def test_readers_refuse_a_database_that_does_not_exist(ottwatch: Run, tmp_path: Path,
                                                       empty_config: Path,
                                                       args: tuple[str, ...]) -> None:
    db = tmp_path / "typo" / "TYPO.db"
    before = tree(tmp_path)
    result = ottwatch(*args, "--db", str(db), env={"OTTWATCH_CONFIG": str(empty_config)})
    assert_one_line(result, f"no database at {db}", "check --db or [storage] url")
    assert tree(tmp_path) == before


def test_a_reader_refuses_the_missing_database_of_the_config(ottwatch: Run,
                                                             tmp_path: Path) -> None:
    db = tmp_path / "ottwatch.db"
    config = tmp_path / "ottwatch.toml"
    config.write_text(f'[storage]\nurl = "sqlite:///{db}"\n', encoding="utf-8")
    before = tree(tmp_path)
    assert_one_line(ottwatch("alerts", "list", "--config", str(config)),
                    f"no database at {db}")
    assert tree(tmp_path) == before


@pytest.mark.parametrize("args", [("alerts", "list"), ("export", "--what", "events")])
def test_a_file_that_is_not_a_database(ottwatch: Run, tmp_path: Path, empty_config: Path,
                                       args: tuple[str, ...]) -> None:
    db = tmp_path / "users.csv"
    db.write_bytes(NOT_A_DATABASE)
    result = ottwatch(*args, "--db", str(db), env={"OTTWATCH_CONFIG": str(empty_config)})
    assert_one_line(result, f"{db} is not an SQLite database")
    assert db.read_bytes() == NOT_A_DATABASE
    assert not Path(f"{db}-wal").exists()


def test_the_agent_refuses_a_file_that_is_not_a_database(agent_process, tmp_path: Path) -> None:
    db = tmp_path / "users.csv"
    db.write_bytes(NOT_A_DATABASE)
    agent = agent_process("--db", str(db), str(tmp_path / "in.jsonl"))
    agent.proc.wait(timeout=60)
    result = subprocess.CompletedProcess(agent.args, agent.proc.returncode, "", agent.stderr())
    assert_one_line(result, f"{db} is not an SQLite database")
    assert db.read_bytes() == NOT_A_DATABASE


@pytest.mark.parametrize("under", ["afile/x.db", "afile/deeper/x.db"])
def test_a_path_under_a_file(ottwatch: Run, tmp_path: Path, empty_config: Path,
                             under: str) -> None:
    (tmp_path / "afile").write_text("a file\n", encoding="utf-8")
    log = tmp_path / "in.jsonl"
    log.write_text("", encoding="utf-8")
    before = tree(tmp_path)
    result = ottwatch("replay", str(log), "-q", "--db", str(tmp_path / under),
                      env={"OTTWATCH_CONFIG": str(empty_config)})
    assert_one_line(result, f"{tmp_path / 'afile'} is a file, not a folder")
    assert tree(tmp_path) == before


def test_bench_keep_under_a_file(ottwatch: Run, tmp_path: Path, empty_config: Path) -> None:
    (tmp_path / "afile").write_text("a file\n", encoding="utf-8")
    before = tree(tmp_path)
    result = ottwatch("bench", "--keep", str(tmp_path / "afile" / "kept"), "--events", "100",
                      env={"OTTWATCH_CONFIG": str(empty_config)})
    assert_one_line(result, "cannot use", "as a folder")
    assert tree(tmp_path) == before


@pytest.fixture
def unwritable_folder(tmp_path: Path) -> Iterator[Path]:
    """A folder this process cannot create files in: mode 0555, or, for root (whom
    modes do not stop), the immutable attribute."""
    folder = tmp_path / "locked"
    folder.mkdir()
    if os.geteuid() != 0:
        folder.chmod(0o555)
        yield folder
        folder.chmod(0o755)
        return
    chattr = shutil.which("chattr")
    if chattr is None or subprocess.run([chattr, "+i", str(folder)],
                                        capture_output=True).returncode != 0:
        pytest.skip("running as root without a way to make a folder unwritable (chattr +i)")
    try:
        yield folder
    finally:
        subprocess.run([chattr, "-i", str(folder)], check=True)


@pytest.mark.parametrize("name", ["x.db", "sub/x.db"])
def test_an_unwritable_folder(ottwatch: Run, tmp_path: Path, empty_config: Path,
                              unwritable_folder: Path, name: str) -> None:
    log = tmp_path / "in.jsonl"
    log.write_text("", encoding="utf-8")
    result = ottwatch("replay", str(log), "-q", "--db", str(unwritable_folder / name),
                      env={"OTTWATCH_CONFIG": str(empty_config)})
    assert_one_line(result, f"{unwritable_folder} is not writable", "choose a folder")
    assert list(unwritable_folder.iterdir()) == []


def run_without_psycopg(*args: str, config: Path) -> subprocess.CompletedProcess[str]:
    """`ottwatch ARGS` in an interpreter where `import psycopg` fails as when the
    [postgres] extra is not installed."""
    code = ("import sys; sys.modules['psycopg'] = None; "
            "from ottwatch.cli import main; main()")
    return subprocess.run([sys.executable, "-c", code, *args], cwd=REPO,
                          env=agent_env({"OTTWATCH_CONFIG": str(config)}),
                          stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("args", [("alerts", "list"), ("agent", "in.jsonl"),
                                  ("replay", "in.jsonl", "-q")])
def test_a_postgresql_url_without_the_driver(tmp_path: Path, empty_config: Path,
                                             args: tuple[str, ...]) -> None:
    (tmp_path / "in.jsonl").write_text("", encoding="utf-8")
    args = tuple(str(tmp_path / a) if a == "in.jsonl" else a for a in args)
    result = run_without_psycopg(*args, "--db", "postgresql://ottwatch@db.invalid/ottwatch",
                                 config=empty_config)
    assert_one_line(result, "no psycopg", "pip install 'ottwatch[postgres]'")


def test_db_completes_file_names(tmp_path: Path) -> None:
    """`--db` is a path type: the shell's completion offers files (click answers `file`)."""
    env = agent_env({"_OTTWATCH_COMPLETE": "bash_complete",
                     "COMP_WORDS": "ottwatch alerts list --db ot", "COMP_CWORD": "4"})
    result = subprocess.run([sys.executable, "-m", "ottwatch"], cwd=REPO, env=env,
                            capture_output=True, text=True, timeout=60)
    assert result.stdout.splitlines() == ["file,ot"], result.stdout + result.stderr


@pytest.mark.parametrize("args, fix", [
    (("alerts", "list", "--db", "{folder}"), "for example {folder}/ottwatch.db"),
    (("replay", "-q", "--db", "{folder}", "{log}"), "for example {folder}/ottwatch.db"),
    (("agent", "--db", "{folder}"), "for example {folder}/ottwatch.db"),
    (("agent", "{folder}"), "for example '{folder}/*.jsonl'"),
    (("config", "check", "--config", "{folder}"), "for example {folder}/ottwatch.toml"),
    (("export", "--what", "events", "--out", "{folder}"), "'--out' takes a file"),
    (("fixtures", "generate", "{folder}"), "'OUT' takes a file"),
], ids=lambda v: " ".join(v[:2]) if isinstance(v, tuple) else None)
def test_a_folder_where_a_file_is_wanted_is_one_line_with_an_example(
        ottwatch: Run, tmp_path: Path, empty_config: Path, args: tuple[str, ...],
        fix: str) -> None:
    folder = tmp_path / "logs"
    folder.mkdir()
    log = tmp_path / "in.jsonl"
    log.write_text("", encoding="utf-8")
    before = tree(tmp_path)
    result = ottwatch(*(a.format(folder=folder, log=log) for a in args),
                      env={"OTTWATCH_CONFIG": str(empty_config)})
    assert_one_line(result, f"{folder} is a folder", fix.format(folder=folder))
    assert tree(tmp_path) == before
