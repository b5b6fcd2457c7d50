"""Measure how long an alert takes from the event line written to a local HTTP
receiver (apprise json://), through the real agent. Prints p50/p99 in ms.

    python scripts/alert_latency.py [N]
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

arrivals: dict[str, float] = {}


class Receiver(BaseHTTPRequestHandler):
    def do_POST(self) -> None:  # noqa: N802 - http.server's name
        body = self.rfile.read(int(self.headers.get("Content-Length", 0))).decode()
        now = time.time()
        for word in body.replace("\\n", " ").split():
            if word.startswith("lat-user-"):
                user = word.strip(".,:;)(\"'`")
                arrivals.setdefault(user, now)
        self.send_response(200)
        self.end_headers()

    def log_message(self, *_: object) -> None:
        pass


def main(count: int) -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    folder = Path(tempfile.mkdtemp(prefix="ottwatch-latency-"))
    log, config = folder / "events.jsonl", folder / "ottwatch.toml"
    log.touch()
    config.write_text(
        "[storage]\n"
        f'url = "sqlite:///{folder / "a.db"}"\n'
        "[alerts]\n"
        f'urls = ["chat,email=json://127.0.0.1:{server.server_port}/hook"]\n'
        "storm_limit = 0\n", encoding="utf-8")
    env = {**os.environ, "OTTWATCH_CONFIG": str(config)}
    agent = subprocess.Popen([sys.executable, "-m", "ottwatch", "agent", str(log)], env=env,
                             stderr=subprocess.DEVNULL)
    time.sleep(4)
    written: dict[str, float] = {}
    try:
        with open(log, "a", encoding="utf-8") as out:
            for n in range(count):
                user = f"lat-user-{n:04d}"
                stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
                out.write(json.dumps({  # noqa: S608 - an attack sample, not a query
                    "event_id": f"lat-{n}", "timestamp": stamp, "user_id": user,
                    "event_type": "search", "has_consent": True,
                    "extra_metadata": {"q": "' UNION SELECT password FROM users--"}}) + "\n")
                out.flush()
                written[user] = time.time()
                time.sleep(0.1)
        deadline = time.time() + 30
        while len(arrivals) < count and time.time() < deadline:
            time.sleep(0.1)
    finally:
        agent.terminate()
        agent.wait(30)
        server.shutdown()
    delays = sorted((arrivals[u] - written[u]) * 1000 for u in written if u in arrivals)
    print(f"alerts received {len(delays)}/{count}")
    if delays:
        p99 = delays[min(len(delays) - 1, int(0.99 * len(delays)))]
        print("slowest", [round(d) for d in delays[-5:]])
        print(f"latency p50 {statistics.median(delays):.0f} ms, p99 {p99:.0f} ms, "
              f"max {delays[-1]:.0f} ms")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 100)
