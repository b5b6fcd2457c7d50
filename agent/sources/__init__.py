"""Where lines come from: tailed files, recorded files, sockets and stdin."""

from agent.sources.base import Chunk, LineSplitter, Source

__all__ = ["Chunk", "LineSplitter", "Source"]
