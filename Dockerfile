# misper's HTTP API. Build: docker build -t misper .   Run: see README ("Docker").
# durable-rules has no wheels and does not import on Python 3.13: build it on 3.12 from source.

FROM python:3.12-slim AS build
RUN apt-get update \
 && apt-get install -y --no-install-recommends gcc libc6-dev \
 && rm -rf /var/lib/apt/lists/*
RUN python -m venv /opt/misper
ENV PATH=/opt/misper/bin:$PATH PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
WORKDIR /src
# Dependencies in their own layer, rebuilt only when pyproject.toml changes: install the
# project's dependency list as pyproject.toml states it.
COPY pyproject.toml ./
RUN python -c "import tomllib; print('\\n'.join(tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']))" \
    > requirements.txt \
 && pip install -r requirements.txt \
 && rm requirements.txt
# Then the code, without touching the dependencies.
COPY README.md ./
COPY engine engine
COPY api api
COPY rules rules
RUN pip install --no-deps . && rm -rf build

FROM python:3.12-slim
RUN useradd --system --create-home --uid 10001 misper \
 && mkdir /data && chown misper:misper /data && chmod 700 /data
COPY --from=build /opt/misper /opt/misper
ENV PATH=/opt/misper/bin:$PATH MISPER_DATA_DIR=/data PYTHONUNBUFFERED=1
USER misper
VOLUME ["/data"]
EXPOSE 8000
# Ready means the policies loaded (their embedded tests passed) and the key store is readable.
HEALTHCHECK --interval=30s --timeout=3s --start-period=20s --retries=3 \
  CMD ["python", "-c", "import sys, urllib.request; sys.exit(urllib.request.urlopen('http://127.0.0.1:8000/readyz', timeout=2).status != 200)"]
CMD ["misper", "serve", "--host", "0.0.0.0", "--port", "8000"]
