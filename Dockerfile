# diemcau in a container: Debian's slim Python image, the pinned dependencies of
# requirements.lock, no browser (only the tests need Chromium). Run it with host networking
# (deploy/compose.yaml): the halls' media come straight to the one UDP port, and the server must
# see the addresses it answers with (docs/network.md).
#   docker build -t diemcau .
#   docker run --network host -v diemcau-data:/var/lib/diemcau \
#     -v "$PWD/deploy/diemcau.toml:/etc/diemcau/diemcau.toml:ro" diemcau
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# A fixed uid, so that files handed in from the host (secrets, deploy/compose.yaml) can be
# given to it: chown 10001.
RUN useradd --system --uid 10001 --user-group --home-dir /var/lib/diemcau --create-home diemcau \
    && chmod 0700 /var/lib/diemcau

WORKDIR /opt/diemcau/src
# The lock first, as constraints: only what diemcau (and its redis extra) needs is installed,
# each at the version CI tested, and this layer is rebuilt only when the lock changes.
COPY requirements.lock pyproject.toml README.md ./
COPY server ./server
COPY signaling ./signaling
COPY media ./media
COPY web ./web
RUN python -m venv /opt/diemcau/venv \
    && /opt/diemcau/venv/bin/pip install -c requirements.lock '.[redis]' \
    && /opt/diemcau/venv/bin/diemcau --help >/dev/null

USER diemcau
VOLUME /var/lib/diemcau
# HTTP for the reverse proxy, and the media's one UDP port (with host networking these are
# informational).
EXPOSE 8080/tcp 8189/udp
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s \
    CMD ["/opt/diemcau/venv/bin/python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8080/healthz', timeout=4)"]
ENTRYPOINT ["/opt/diemcau/venv/bin/diemcau"]
CMD ["serve", "--config", "/etc/diemcau/diemcau.toml"]
