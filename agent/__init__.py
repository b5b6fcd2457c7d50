"""The runtime: sources, the micro-batching loop, signals and systemd integration."""
