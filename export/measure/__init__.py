"""The CPU benchmark's library (`python -m export.benchmark` is the command): `flops` counts an
inference's FLOPs and measures the float32 matmul peak, `latency` times one file in a fresh
child process, `report` runs a whole export folder and records the results."""
