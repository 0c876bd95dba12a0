"""
`pipelines image`: the container image of Kubernetes runs, tagged by the package's version and
the git commit it is built from, and the commands that build it from the repository's
`Dockerfile` and push it. The tag then goes in `PIPELINES_IMAGE` (or a label's `image`).
"""

import re
import subprocess
from dataclasses import dataclass
from importlib import metadata

from pipelines.framework.config import REPO_ROOT, get_settings

DOCKERFILE = "Dockerfile"
WORKER_EXTRAS = ("gcp", "s3", "kubernetes")
"""The extras a run needs on a cluster: BigQuery and gs://, s3://, and the Kubernetes worker.
The Dockerfile's `EXTRAS` default says the same (a test holds them together)."""


@dataclass(frozen=True)
class ImageBuild:
    """The image of this checkout: its tag and the commands that build and push it."""

    tag: str
    version: str
    revision: str | None
    build: list[str]
    push: list[str]

    def as_dict(self) -> dict[str, object]:
        return {
            "tag": self.tag,
            "version": self.version,
            "revision": self.revision,
            "build": self.build,
            "push": self.push,
        }


def _git(*args: str) -> str | None:
    try:
        result = subprocess.run(
            ["git", *args], cwd=REPO_ROOT, capture_output=True, text=True, check=True, timeout=10
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return result.stdout.strip()


def package_version() -> str:
    """The version in pyproject.toml (the installed distribution's, else read from the file)."""
    try:
        return metadata.version("pipelines")
    except metadata.PackageNotFoundError:
        text = (REPO_ROOT / "pyproject.toml").read_text(encoding="utf-8")
        found = re.search(r'^version\s*=\s*"([^"]+)"', text, re.MULTILINE)
        return found.group(1) if found else "0"


def image_build(
    repository: str | None = None, extras: tuple[str, ...] = WORKER_EXTRAS
) -> ImageBuild:
    """The tag `<repository>:<version>-<commit>` (`-dirty` when tracked files differ from the
    commit: such an image is not the commit's) and its build and push commands."""
    repository = repository or get_settings().image_repository
    version = package_version()
    revision = _git("rev-parse", "--short=12", "HEAD") or None
    tag = f"{version}-{revision}" if revision else version
    if revision and _git("status", "--porcelain", "--untracked-files=no"):
        tag += "-dirty"
    image = f"{repository}:{tag}"
    build = [
        "docker", "build",
        "--file", str(REPO_ROOT / DOCKERFILE),
        "--build-arg", f"EXTRAS={','.join(extras)}",
        "--build-arg", f"VERSION={version}",
        "--build-arg", f"REVISION={revision or 'unknown'}",
        "--tag", image,
        str(REPO_ROOT),
    ]  # fmt: skip
    return ImageBuild(image, version, revision, build, ["docker", "push", image])
