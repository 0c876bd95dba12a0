"""
Compatibility with the guide's Prefect 1 (0.15) code.

- `pipelines.compat.prefect1`: a Prefect 1 API whose flows are real Prefect 3 flows (each Prefect 1
  task a Prefect 3 task run), so discovery, registration and `pipelines run` treat them like any
  other flow. Its submodules mirror Prefect 1's paths (`.schedules.clocks`, `.engine.signals`, ...).
- `pipelines.compat.migrate`: brings a Prefect 1 project folder into this repository by rewriting
  its import lines, and only those, onto `pipelines.compat.prefect1`.

See docs/migrating-from-prefect-1.md for what each construct becomes.
"""
