"""Differential fuzzing of funcgrad's transformations: random programs (`programs`), the
oracles every program is checked against (`oracles`), and a long-run driver
(`python -m tests.fuzz --programs 10000`)."""
