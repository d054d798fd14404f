# The production image: one image for every role (web, ws, worker, beat, migrate), chosen by
# the command docker-compose.yml gives each service.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    CRM_MODE=production \
    CRM_VAR_DIR=/var/lib/crm \
    MEDIA_ROOT=/var/lib/crm/media

WORKDIR /app

# pg_dump and pg_restore for `manage.py backup` and `restore` (the nightly backup runs in the
# worker): Debian's client, PostgreSQL 15, the major version of the stack's server.
RUN apt-get update \
    && apt-get install -y --no-install-recommends postgresql-client \
    && rm -rf /var/lib/apt/lists/*

# The pinned dependencies first, in a layer of their own that is rebuilt only when
# pyproject.toml changes. The project itself installs no package: it runs from /app.
COPY pyproject.toml ./
RUN pip install . && rm -rf build *.egg-info

RUN groupadd --system crm \
    && useradd --system --gid crm --home-dir /var/lib/crm --no-create-home \
       --shell /usr/sbin/nologin crm

COPY . .

# Static files are baked into the image (STATIC_ROOT is $CRM_VAR_DIR/static) and served by
# WhiteNoise from the web workers. collectstatic needs settings but no database: the embedded
# mode with a throwaway key loads them without DATABASE_URL or REDIS_URL.
RUN python scripts/compile_messages.py \
    && CRM_MODE=embedded SECRET_KEY=collectstatic-only-not-used-at-runtime \
       python manage.py collectstatic --noinput -v 0 \
    && mkdir -p /var/lib/crm/media /var/lib/crm/backups \
    && chown crm:crm /var/lib/crm /var/lib/crm/media /var/lib/crm/backups

# The code and the static files stay owned by root: the app can write only under
# /var/lib/crm/media and /var/lib/crm/backups (volumes).
USER crm

EXPOSE 8000 8001
CMD ["gunicorn", "config.wsgi", "--bind", "0.0.0.0:8000", "--access-logfile", "-"]
