# Plughost with the bundled plugins. Teams' plugins are added by building FROM this image and
# pip-installing their packages (see docs/operators-guide.md). No container builder runs in
# this project's CI: tests/test_deploy.py runs the RUN pip steps below, as written, in a fresh
# virtualenv, then `plughost plugins` and `plughost db upgrade` from it.
FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY host ./host
COPY plugins ./plugins
RUN pip wheel --wheel-dir /wheels ".[postgres,redis]" ./plugins/todo ./plugins/gitops ./plugins/crm

FROM python:3.11-slim
RUN apt-get update && apt-get install -y --no-install-recommends git \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --create-home --uid 10001 plughost
COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir --no-index --find-links /wheels \
        "plughost[postgres,redis]" plughost-todo plughost-gitops plughost-crm \
    && rm -rf /wheels
USER plughost
ENV PLUGHOST_DATA_DIR=/home/plughost/data \
    PLUGHOST_STRICT=true \
    PYTHONUNBUFFERED=1
EXPOSE 8000
HEALTHCHECK --interval=15s --timeout=3s --start-period=20s \
    CMD python -c "import urllib.request,sys; sys.exit(urllib.request.urlopen('http://127.0.0.1:8000/readyz').status != 200)"
# A real issuer must be configured (PLUGHOST_AUTH__ISSUER=scalekit or oidc): the dev issuer
# refuses to serve on 0.0.0.0.
CMD ["plughost", "serve", "--host", "0.0.0.0", "--port", "8000"]
