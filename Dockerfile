# The Bosun image for compose.yaml: one image, one component per container (`bosun <component> ...`).
FROM python:3.11-slim

ENV PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
COPY pyproject.toml ./
COPY core ./core
COPY actors ./actors
COPY projections ./projections
COPY analysis ./analysis
COPY gateway ./gateway
COPY dataplane ./dataplane
COPY bench ./bench
RUN pip install . && rm -rf /src

RUN useradd --system --home-dir /data bosun && mkdir -p /data/projections && chown -R bosun /data
USER bosun
WORKDIR /data
ENTRYPOINT ["bosun"]
CMD ["--help"]
