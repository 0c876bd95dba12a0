"""Prefect 1's task library: the parts flows use (core, control flow, flow runs, secrets)."""
