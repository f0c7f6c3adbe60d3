"""The parts of benchmarks/forwarding.py: each runs in a process of its own (see `--role`)."""
