# One image for all four services: `skillsub serve <registry|eligibility|payments|reporting>`.
# Build stage: resolve and install the project into a virtualenv. Final stage: that virtualenv,
# no compilers, no pip cache, a non-root user.
ARG PYTHON_IMAGE=python:3.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
# gcc only here: a dependency without a wheel for this platform compiles in this stage, never in the final one.
RUN apt-get update \
    && apt-get install -y --no-install-recommends gcc libc6-dev \
    && rm -rf /var/lib/apt/lists/*
RUN python -m venv /opt/venv
WORKDIR /src
# Dependencies first, at the locked versions and hashes CI tested, so that a code change reuses
# the cached dependency layer.
COPY pyproject.toml requirements.lock ./
RUN /opt/venv/bin/pip install --require-hashes -r requirements.lock
COPY shared ./shared
COPY services ./services
RUN /opt/venv/bin/pip install --no-deps . \
    && /opt/venv/bin/python -m compileall -q /opt/venv/lib

FROM ${PYTHON_IMAGE} AS runtime
LABEL org.opencontainers.image.title="skillsub" \
      org.opencontainers.image.description="Nantong vocational-skills subsidy platform: registry, eligibility, payments, reporting"
# A fixed numeric uid so Kubernetes runAsNonRoot can verify it without reading /etc/passwd.
RUN groupadd --system --gid 10001 skillsub \
    && useradd --system --uid 10001 --gid 10001 --home-dir /var/lib/skillsub --create-home \
       --shell /usr/sbin/nologin skillsub
COPY --from=build /opt/venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    SKILLSUB_ENV=production \
    SKILLSUB_DATA_DIR=/var/lib/skillsub
USER 10001:10001
WORKDIR /var/lib/skillsub
EXPOSE 8001 8002 8003 8004
# The service is chosen by the command; registry is only the default. `skillsub serve` binds
# 127.0.0.1 unless told otherwise: in a container it must listen on every interface.
CMD ["skillsub", "serve", "registry", "--host", "0.0.0.0"]
