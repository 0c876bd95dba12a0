from pipelines.framework.cli.main import app

__all__ = ["app"]
