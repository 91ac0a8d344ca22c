"""The gate's checks: GPU delegation and numerics, NNAPI rules, parity, metadata, size."""
