"""The loopback HTTP server under every stand-in of `tests/support` (APIs, Vault, webhooks): the
platform's own, which serves `pipelines dev`'s stand-ins (pipelines/framework/stack/dev.py)."""

from pipelines.framework.stack.dev import LoopbackServer, QuietHandler

__all__ = ["LoopbackServer", "QuietHandler"]
