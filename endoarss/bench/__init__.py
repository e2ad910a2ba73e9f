"""The efficiency bench: step time, throughput and peak memory of a preset, with per-switch ablations."""
