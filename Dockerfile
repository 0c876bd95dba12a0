# syntax=docker/dockerfile:1
# The image of the platform's Kubernetes flow runs (and of a Kubernetes worker): this package
# and the extras a run needs, in a virtual environment, run by a non-root user.
# `pipelines image` prints the build command and the tag (package version + git commit).
#
# A run's code is not the image's: registration uploads each flow's files to the storage URL
# and the run's pull step downloads them into the working folder, whose `pipelines` is imported
# before the image's. The image holds the dependencies, and the package so `pipelines` and
# `prefect worker start --type kubernetes` work in it.

ARG PYTHON_VERSION=3.11

FROM python:${PYTHON_VERSION}-slim-bookworm AS build
SHELL ["/bin/sh", "-eu", "-c"]
ARG EXTRAS=gcp,s3,kubernetes
ARG UV_VERSION=0.13.9
ENV UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_NO_CACHE=1 \
    UV_PYTHON_DOWNLOADS=never \
    VIRTUAL_ENV=/opt/pipelines
RUN pip install --no-cache-dir "uv==${UV_VERSION}" && uv venv /opt/pipelines
WORKDIR /app

# The dependencies in a layer of their own: a change of code alone reuses it.
COPY pyproject.toml README.md ./
RUN set --; IFS=,; for extra in ${EXTRAS}; do set -- "$@" "--extra=${extra}"; done; unset IFS; \
    uv pip compile pyproject.toml "$@" --output-file /tmp/requirements.txt \
    && uv pip install --requirement /tmp/requirements.txt

# The package, installed in place: its root (/app) holds the dbt project the settings find.
COPY pipelines ./pipelines
COPY queries ./queries
RUN uv pip install --no-deps --editable . \
    && rm -rf queries/target queries/logs queries/dbt_packages


FROM python:${PYTHON_VERSION}-slim-bookworm
ARG VERSION=dev
ARG REVISION=unknown
LABEL org.opencontainers.image.title="pipelines" \
      org.opencontainers.image.description="The city's data pipelines: flow runs on Kubernetes" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}"
RUN groupadd --gid 10001 pipelines \
    && useradd --uid 10001 --gid 10001 --create-home --home-dir /home/pipelines pipelines
COPY --from=build /opt/pipelines /opt/pipelines
COPY --from=build --chown=10001:10001 /app /app
ENV PATH=/opt/pipelines/bin:${PATH} \
    VIRTUAL_ENV=/opt/pipelines \
    PYTHONUNBUFFERED=1 \
    PIPELINES_HOME=/home/pipelines/.pipelines \
    PREFECT_SERVER_ANALYTICS_ENABLED=false
# A numeric user, so a pod's `runAsNonRoot` can check it.
USER 10001:10001
WORKDIR /home/pipelines
CMD ["pipelines", "--help"]
