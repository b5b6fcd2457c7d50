"""A line quarantined from a rotated-away file names that file, not the live one; its
received_at is exported as ISO time like every other timestamp."""

from __future__ import annotations

import json
import os
from datetime import datetime
from pathlib import Path

from click.testing import CliRunner
from test_rotation_resume import Tailed, Writer, read_first_part, stopped  # noqa: F401

from ottwatch.cli import cli


def test_a_line_quarantined_from_the_rotated_file_names_it(stopped: Tailed) -> None:  # noqa: F811
    log, db, start = stopped
    writer = Writer(seed=14)
    read_first_part(stopped, writer, 200)  # one bad line, read from the live file
    old = writer.open(log)
    writer.write(old, 50)
    writer.write_bad(old)  # read only after the rotation, from app.jsonl.1
    os.close(old)
    log.rename(log.with_name("app.jsonl.1"))
    new = writer.open(log)
    writer.write(new, 30)
    os.close(new)
    agent = start()
    agent.wait_for(lambda: db.count("quarantine") == 2 and db.count() == len(writer.written),
                   what="the rotated file's rest and the new file")
    assert agent.stop() == 0
    sources = [s for (s,) in db.rows("SELECT source FROM quarantine ORDER BY id")]
    assert sources == [f"file:{log}", f"file:{log}.1"]
    checkpoints = [s for (s,) in db.rows("SELECT source FROM checkpoints")]
    assert checkpoints == [f"file:{log}"]  # checkpoint keys do not change

    exported = CliRunner().invoke(cli, ["export", "--db", str(db.path), "--what",
                                        "quarantine"])
    assert exported.exit_code == 0, exported.output
    for line in exported.output.splitlines():
        received = json.loads(line)["received_at"]
        assert isinstance(received, str) and received.endswith("Z")
        assert abs(datetime.fromisoformat(received).timestamp() - Path(db.path).stat().st_mtime) \
            < 3600
