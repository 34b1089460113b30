# The Bosun image for compose.yaml: one image, one component per container (`bosun <component> ...`).
#
# The build stage makes the wheel pyproject.toml describes from exactly the files copied below; the image
# installs that wheel, so it holds what the wheel packages and nothing else. Keep the COPY lines in step with
# pyproject.toml's packages: tests/integration/test_image.py copies this file set, builds and installs it
# into a fresh venv and runs `bosun --help` (there is no docker engine on the test machines).
FROM python:3.11-slim AS build

ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
COPY pyproject.toml README.md ./
COPY bosun ./bosun
COPY core ./core
COPY actors ./actors
COPY projections ./projections
COPY analysis ./analysis
COPY gateway ./gateway
COPY dataplane ./dataplane
COPY cli ./cli
COPY supervisor ./supervisor
COPY lifecycle ./lifecycle
COPY bench ./bench
COPY chaos ./chaos
COPY corpus ./corpus
RUN pip wheel --no-deps --wheel-dir /wheels .

FROM python:3.11-slim

ENV PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
COPY --from=build /wheels /wheels
RUN pip install /wheels/*.whl && rm -rf /wheels

RUN useradd --system --home-dir /data bosun && mkdir -p /data/projections /joins && chown -R bosun /data /joins
USER bosun
WORKDIR /data
ENTRYPOINT ["bosun"]
CMD ["--help"]
