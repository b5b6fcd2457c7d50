"""Every file ottwatch writes holds personal data or secrets: each command below runs
under a permissive umask (022) and every file it leaves is 0600, every folder 0700."""

from __future__ import annotations

import stat
import subprocess
from collections.abc import Callable
from pathlib import Path

from fixtures.hostile_strings import CORPUS_PATH

PERMISSIVE_UMASK = 0o022
Ottwatch = Callable[..., subprocess.CompletedProcess[str]]


def modes(folder: Path, ignore: set[Path]) -> dict[str, str]:
    return {str(p.relative_to(folder)): oct(stat.S_IMODE(p.stat().st_mode))
            for p in sorted(folder.rglob("*")) if p not in ignore}


def private(found: dict[str, str], folder: Path) -> dict[str, str]:
    return {name: "0o700" if (folder / name).is_dir() else "0o600" for name in found}


def test_every_file_the_commands_write_is_owner_only(tmp_path: Path, ottwatch: Ottwatch) -> None:
    config = tmp_path / "empty.toml"
    config.write_text("", encoding="utf-8")
    out = tmp_path / "out"
    for folder in ("gen", "exports"):  # the test's own: the commands do not make them
        (out / folder).mkdir(parents=True)
    before = set(tmp_path.rglob("*"))
    db = out / "db" / "ottwatch.db"  # its folder made by ottwatch

    def run(*args: str) -> None:
        done = ottwatch(*args, env={"OTTWATCH_CONFIG": str(config)}, umask=PERMISSIVE_UMASK)
        assert done.returncode == 0, (args, done.stderr[-2000:])

    run("fixtures", "generate", str(out / "gen" / "stream.jsonl"), "-n", "2000", "--users",
        "40", "--days", "1", "--truth", str(out / "gen" / "truth.json"))
    run("fixtures", "generate", str(out / "gen" / "uniform.jsonl"), "--uniform", "-n", "500")
    run("replay", str(CORPUS_PATH), "--db", str(db), "--quiet")
    for what in ("events", "alerts", "quarantine"):
        for fmt in ("jsonl", "csv"):
            run("export", "--db", str(db), "--what", what, "--format", fmt,
                "--out", str(out / "exports" / f"{what}.{fmt}"))
    run("label", "[link=https://evil.example]u[/link]-0001", "--violation", "--db", str(db))
    found = modes(tmp_path, before)
    assert len([n for n in found if n.startswith("out/exports/")]) == 6
    assert "out/gen/truth.json" in found and "out/db/ottwatch.db" in found
    assert found == private(found, tmp_path)


def test_export_makes_an_existing_readable_file_owner_only(tmp_path: Path,
                                                           ottwatch: Ottwatch) -> None:
    config = tmp_path / "empty.toml"
    config.write_text("", encoding="utf-8")
    db = tmp_path / "ottwatch.db"
    env = {"OTTWATCH_CONFIG": str(config)}
    assert ottwatch("replay", str(CORPUS_PATH), "--db", str(db), "--quiet", env=env
                    ).returncode == 0
    target = tmp_path / "events.jsonl"
    target.write_text("old, longer than what replaces it" * 1000)
    target.chmod(0o644)
    done = ottwatch("export", "--db", str(db), "--what", "rings", "--out", str(target), env=env,
                    umask=PERMISSIVE_UMASK)
    assert done.returncode == 0, done.stderr
    assert oct(stat.S_IMODE(target.stat().st_mode)) == "0o600"
    assert "old, longer" not in target.read_text(), "truncated, not overwritten in place"
