/* citymodel viewer: opens a 3D Tiles tileset in CesiumJS, colours it by surface type or an
 * attribute, and shows a picked feature's attributes. Everything is loaded from the server
 * that serves this page: no Cesium ion, no imagery or terrain from the internet.
 *
 * window.citymodelViewer (for automation and tests):
 *   ready        true once the tileset JSON is loaded and the camera is on it (or error is set)
 *   error        message when the tileset could not be opened, else null
 *   tilesLoaded  true when every tile needed for the current view is loaded
 *   loadedTiles, failedTiles [{url, message}], tilesetUrl, style, styles [{id, label}]
 *   picked       the last picked feature {title, properties, ...} or null
 *   pickAt(x, y) pick at canvas pixel (CSS px), show it in the panel, return what was picked
 *   setStyle(id) apply one of styles (a promise, settled once frames show it)
 *   nextFrames(n)  a promise settled after n more rendered frames
 *   viewer, tileset  the Cesium objects
 */
(function () {
  'use strict';

  const config = JSON.parse(document.getElementById('citymodel-config').textContent);
  const params = new URLSearchParams(window.location.search);
  const el = (id) => document.getElementById(id);

  const CATEGORY_COLORS = [
    '#4e79a7', '#f28e2b', '#e15759', '#76b7b2', '#59a14f', '#edc948',
    '#b07aa1', '#ff9da7', '#9c755f', '#86bcb6', '#d37295', '#bab0ac',
  ];
  const OTHER_COLOR = '#6e7681';
  const NO_VALUE_COLOR = '#8b949e';
  const RAMP_COLORS = ['#440154', '#46327e', '#365c8d', '#277f8e', '#1fa187', '#4ac16d', '#a0da39', '#fde725'];
  // ASPRS LAS 1.4 standard point classes
  const CLASSIFICATION = [
    [0, 'never classified', '#9e9e9e'], [1, 'unclassified', '#c8c8c8'], [2, 'ground', '#a67c52'],
    [3, 'low vegetation', '#b5e28c'], [4, 'medium vegetation', '#6cc24a'], [5, 'high vegetation', '#2e7d32'],
    [6, 'building', '#e0533d'], [7, 'low point (noise)', '#ff00ff'], [9, 'water', '#3b82f6'],
    [10, 'rail', '#7f5539'], [11, 'road surface', '#5c5c5c'], [13, 'wire guard', '#f5d000'],
    [14, 'wire conductor', '#f5d000'], [15, 'transmission tower', '#d9a400'], [16, 'wire connector', '#f5d000'],
    [17, 'bridge deck', '#c9a227'], [18, 'high noise', '#ff00ff'],
  ];
  const MAX_CATEGORIES = CATEGORY_COLORS.length;
  const MAX_DISTINCT = 2 * CATEGORY_COLORS.length; // more values: not offered as categories
  const ID_PROPERTIES = new Set(['gml_id', 'building_id']);

  const api = {
    ready: false,
    error: null,
    tilesetUrl: null,
    loadedTiles: 0,
    failedTiles: [],
    picked: null,
    style: null,
    styles: [],
    viewer: null,
    tileset: null,
    get tilesLoaded() {
      const t = api.tileset;
      if (!t || !api.ready) return false;
      const s = t.statistics;
      return t.tilesLoaded && s.numberOfPendingRequests === 0 && s.numberOfTilesProcessing === 0;
    },
    pickAt: (x, y) => pickAt(x, y),
    setStyle: async (id) => {
      const applied = applyStyle(id);
      if (applied) await nextFrames(3); // the style engine colours features during updates
      return applied;
    },
    nextFrames: (n) => nextFrames(n),
  };
  window.citymodelViewer = api;

  // ---- status and panels --------------------------------------------------------------

  function setStatus(text, kind) {
    const status = el('status');
    status.textContent = text;
    status.className = kind || '';
  }

  function message(err) {
    if (!err) return 'unknown error';
    if (err.message) return err.message;
    if (err.statusCode) return `HTTP ${err.statusCode}`;
    return String(err);
  }

  function fail(text) {
    api.error = text;
    api.ready = true;
    setStatus(text, 'error');
  }

  function loadStatus() {
    if (api.error) return;
    const failed = api.failedTiles.length;
    const tail = failed ? `, ${failed} failed (see the browser console)` : '';
    if (api.tilesLoaded) setStatus(`${api.loadedTiles} tiles loaded${tail}`, failed ? 'warning' : '');
    else setStatus(`Loading tiles… ${api.loadedTiles} loaded${tail}`, failed ? 'warning' : '');
  }

  function fillListing() {
    const list = el('tilesets');
    for (const item of config.tilesets || []) {
      const li = document.createElement('li');
      const a = document.createElement('a');
      a.href = `?tileset=${encodeURIComponent(item.url)}`;
      a.textContent = item.name;
      li.appendChild(a);
      list.appendChild(li);
    }
    el('open-form').addEventListener('submit', (event) => {
      event.preventDefault();
      const url = el('open-url').value.trim();
      if (url) window.location.search = `?tileset=${encodeURIComponent(url)}`;
    });
  }

  // ---- the Cesium viewer ----------------------------------------------------------------

  function createViewer() {
    Cesium.Ion.defaultAccessToken = '';
    const imagery = Cesium.ImageryLayer.fromProviderAsync(
      Cesium.TileMapServiceImageryProvider.fromUrl(Cesium.buildModuleUrl('Assets/Textures/NaturalEarthII'))
    );
    const viewer = new Cesium.Viewer('view', {
      baseLayer: imagery,
      terrainProvider: new Cesium.EllipsoidTerrainProvider(),
      baseLayerPicker: false,
      geocoder: false,
      homeButton: true,
      sceneModePicker: false,
      projectionPicker: false,
      navigationHelpButton: false,
      animation: false,
      timeline: false,
      fullscreenButton: false,
      vrButton: false,
      infoBox: false,
      selectionIndicator: false,
      requestRenderMode: true,
      maximumRenderTimeChange: Infinity,
      contextOptions: { webgl: { alpha: false } }, // an opaque canvas: the page shows nothing behind it
    });
    const scene = viewer.scene;
    scene.globe.enableLighting = false;
    scene.globe.depthTestAgainstTerrain = false;
    scene.fog.enabled = false;
    // A light along the view direction: buildings are lit whatever the clock says.
    const light = new Cesium.DirectionalLight({ direction: Cesium.Cartesian3.clone(scene.camera.directionWC) });
    scene.light = light;
    scene.preRender.addEventListener(() => Cesium.Cartesian3.clone(scene.camera.directionWC, light.direction));
    el('globe').addEventListener('change', (event) => {
      scene.globe.show = event.target.checked;
      scene.requestRender();
    });
    return viewer;
  }

  function homeView(duration) {
    const tileset = api.tileset;
    const range = Math.max(tileset.boundingSphere.radius * 2.2, 50);
    const offset = new Cesium.HeadingPitchRange(0, Cesium.Math.toRadians(-35), range);
    return api.viewer.flyTo(tileset, { duration, offset });
  }

  // ---- properties seen in the tileset ---------------------------------------------------

  const properties = new Map(); // name -> {numeric, min, max, values: Map|null}
  let hasPoints = false;
  let classificationName = null;

  function property(name) {
    let p = properties.get(name);
    if (!p) {
      p = { numeric: null, min: Infinity, max: -Infinity, values: new Map() };
      properties.set(name, p);
    }
    return p;
  }

  function safeName(name) {
    return typeof name === 'string' && name.length > 0 && !/['"\\{}$]/.test(name);
  }

  function noteValue(name, value) {
    if (value === undefined || value === null || !safeName(name)) return false;
    const p = property(name);
    let changed = false;
    if (typeof value === 'number' || typeof value === 'bigint') {
      const v = Number(value);
      if (!Number.isFinite(v)) return false;
      if (p.numeric === null) { p.numeric = true; changed = true; }
      if (v < p.min) { p.min = v; changed = true; }
      if (v > p.max) { p.max = v; changed = true; }
    } else if (typeof value === 'string') {
      if (p.numeric !== false) { p.numeric = false; changed = true; }
      if (p.values && !p.values.has(value)) {
        p.values.set(value, 0);
        if (p.values.size > MAX_DISTINCT) p.values = null;
        changed = true;
      }
      if (p.values) p.values.set(value, p.values.get(value) + 1);
    } else {
      if (p.numeric !== false) { p.numeric = false; changed = true; }
      p.values = null;
    }
    return changed;
  }

  function noteSchema(tileset) {
    const schema = tileset.schema;
    if (!schema || !schema.classes) return;
    for (const cls of Object.values(schema.classes)) {
      for (const [id, prop] of Object.entries(cls.properties || {})) {
        if (/^classification$/i.test(id)) classificationName = id;
        if (!safeName(id) || prop.isArray) continue;
        const p = property(id);
        if (prop.type === 'SCALAR') p.numeric = true;
        else if (prop.type === 'STRING' || prop.type === 'ENUM' || prop.type === 'BOOLEAN') p.numeric = false;
      }
    }
  }

  function* contentsOf(content) {
    if (!content) return;
    yield content;
    for (const inner of content.innerContents || []) yield* contentsOf(inner);
  }

  // Per-point properties (glTF EXT_structural_metadata property attributes; CesiumJS also
  // reads a 1.0 pnts batch table into them) have no public listing in CesiumJS: read the names
  // from the content's model where this CesiumJS version keeps them, else assume the pnts name.
  function pointPropertyNames(content) {
    try {
      const metadata = content._model && content._model.structuralMetadata;
      const names = [];
      for (const attributes of (metadata && metadata.propertyAttributes) || []) {
        names.push(...Object.keys((attributes.class && attributes.class.properties) || {}));
      }
      return names;
    } catch (err) {
      return [];
    }
  }

  function noteContent(content) {
    let changed = false;
    for (const c of contentsOf(content)) {
      if (c.pointsLength > 0 && !hasPoints) { hasPoints = true; changed = true; }
      if (c.pointsLength > 0 && !classificationName) {
        const name = pointPropertyNames(c).find((n) => /^classification$/i.test(n));
        if (name) { classificationName = name; changed = true; }
      }
      const n = c.featuresLength || 0;
      for (let i = 0; i < n; i++) {
        const feature = c.getFeature(i);
        for (const name of feature.getPropertyIds()) {
          if (noteValue(name, feature.getProperty(name))) changed = true;
        }
      }
    }
    return changed;
  }

  // ---- styles ---------------------------------------------------------------------------

  function variable(name) {
    return `\${feature['${name}']}`;
  }

  function quoted(value) {
    return `'${value}'`;
  }

  function plainValue(value) {
    return !/['"\\{}$]/.test(value);
  }

  function categoriesOf(name) {
    const p = properties.get(name);
    if (!p || !p.values) return [];
    return [...p.values.entries()]
      .filter(([value]) => plainValue(value))
      .sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1))
      .slice(0, MAX_CATEGORIES)
      .map(([value]) => value);
  }

  function formatNumber(v) {
    if (Number.isInteger(v)) return String(v);
    return Math.abs(v) >= 100 ? v.toFixed(0) : Math.abs(v) >= 1 ? v.toFixed(1) : v.toPrecision(2);
  }

  function styleSpec(id) {
    const missing = (v) => [`${v} === undefined || ${v} === null`, `color('${NO_VALUE_COLOR}')`];
    if (id === 'surface') {
      return {
        blend: 'HIGHLIGHT',
        style: undefined,
        legend: (config.surfacePalette || []).map((s) => [s.name, s.color]),
        note: 'default material colours',
      };
    }
    if (id === 'plain') {
      return { blend: 'REPLACE', style: { color: "color('white')" }, legend: [] };
    }
    if (id === 'classification') {
      const v = `\${${classificationName || 'Classification'}}`;
      const conditions = CLASSIFICATION.map(([code, , color]) => [`${v} === ${code}`, `color('${color}')`]);
      conditions.push(['true', `color('${OTHER_COLOR}')`]);
      return {
        blend: 'REPLACE',
        style: { color: { conditions }, pointSize: 2 },
        legend: CLASSIFICATION.map(([code, label, color]) => [`${code} ${label}`, color]),
      };
    }
    const [kind, name] = [id.slice(0, id.indexOf(':')), id.slice(id.indexOf(':') + 1)];
    const v = variable(name);
    if (kind === 'category') {
      const values = categoriesOf(name);
      const conditions = [missing(v)];
      const legend = [];
      values.forEach((value, i) => {
        conditions.push([`${v} === ${quoted(value)}`, `color('${CATEGORY_COLORS[i]}')`]);
        legend.push([value, CATEGORY_COLORS[i]]);
      });
      conditions.push(['true', `color('${OTHER_COLOR}')`]);
      legend.push(['other', OTHER_COLOR], ['no value', NO_VALUE_COLOR]);
      return { blend: 'REPLACE', style: { color: { conditions } }, legend };
    }
    if (kind === 'ramp') {
      const p = properties.get(name);
      const lo = Number.isFinite(p.min) ? p.min : 0;
      const hi = Number.isFinite(p.max) ? p.max : lo;
      const n = RAMP_COLORS.length;
      const step = (hi - lo) / n;
      const conditions = [missing(v)];
      const legend = [];
      for (let i = 0; i < n; i++) {
        const upper = lo + step * (i + 1);
        const test = i === n - 1 || step === 0 ? 'true' : `${v} < ${upper}`;
        conditions.push([test, `color('${RAMP_COLORS[i]}')`]);
        legend.push([`${formatNumber(lo + step * i)} – ${formatNumber(i === n - 1 ? hi : upper)}`, RAMP_COLORS[i]]);
        if (step === 0) break;
      }
      legend.push(['no value', NO_VALUE_COLOR]);
      return { blend: 'REPLACE', style: { color: { conditions } }, legend, range: [lo, hi] };
    }
    return null;
  }

  function availableStyles() {
    const styles = [{ id: 'surface', label: 'Surface type (materials)' }];
    if (properties.has('object_type') && properties.get('object_type').values) {
      styles.push({ id: 'category:object_type', label: 'Object type' });
    }
    const names = [...properties.keys()].sort((a, b) => a.localeCompare(b));
    for (const name of names) {
      const p = properties.get(name);
      if (p.numeric === true && Number.isFinite(p.min)) styles.push({ id: `ramp:${name}`, label: `${name} (range)` });
    }
    for (const name of names) {
      const p = properties.get(name);
      if (name === 'object_type' || ID_PROPERTIES.has(name)) continue;
      if (p.numeric === false && p.values && p.values.size > 0) {
        styles.push({ id: `category:${name}`, label: `${name} (categories)` });
      }
    }
    if (hasPoints || classificationName) styles.push({ id: 'classification', label: 'Classification (points)' });
    styles.push({ id: 'plain', label: 'Plain' });
    return styles;
  }

  let appliedSpec = null;

  function renderStyleChoices() {
    const select = el('style');
    api.styles = availableStyles();
    const current = api.style;
    select.replaceChildren(
      ...api.styles.map((s) => {
        const option = document.createElement('option');
        option.value = s.id;
        option.textContent = s.label;
        return option;
      })
    );
    select.value = current && api.styles.some((s) => s.id === current) ? current : 'surface';
    select.disabled = false;
  }

  function renderLegend(spec) {
    const list = el('legend');
    list.replaceChildren(
      ...(spec ? spec.legend : []).map(([label, color]) => {
        const li = document.createElement('li');
        const swatch = document.createElement('span');
        swatch.className = 'swatch';
        swatch.style.background = color;
        const text = document.createElement('span');
        text.textContent = label;
        li.append(swatch, text);
        return li;
      })
    );
  }

  function applyStyle(id) {
    const tileset = api.tileset;
    if (!tileset || !api.styles.some((s) => s.id === id)) return false;
    const spec = styleSpec(id);
    if (!spec) return false;
    tileset.colorBlendMode = Cesium.Cesium3DTileColorBlendMode[spec.blend];
    tileset.style = spec.style ? new Cesium.Cesium3DTileStyle(spec.style) : undefined;
    if (hasPoints) tileset.pointCloudShading.attenuation = true;
    api.style = id;
    appliedSpec = spec;
    el('style').value = id;
    renderLegend(spec);
    api.viewer.scene.requestRender();
    return true;
  }

  let restyleTimer = null;

  function propertiesChanged() {
    if (restyleTimer) return;
    restyleTimer = setTimeout(() => {
      restyleTimer = null;
      renderStyleChoices();
      // categories and ranges grow as tiles load: rebuild the active attribute style
      if (api.style && api.style !== 'surface' && api.style !== 'plain') {
        const spec = styleSpec(api.style);
        if (spec && JSON.stringify(spec.legend) !== JSON.stringify(appliedSpec && appliedSpec.legend)) {
          applyStyle(api.style);
        }
      }
    }, 300);
  }

  // ---- picking --------------------------------------------------------------------------

  let silhouette = null;
  let highlighted = null; // {feature, color} when silhouettes are not supported

  function highlight(feature) {
    if (silhouette) {
      silhouette.selected = feature ? [feature] : [];
    } else {
      if (highlighted) {
        try { highlighted.feature.color = highlighted.color; } catch (e) { /* tile unloaded */ }
        highlighted = null;
      }
      if (feature) {
        highlighted = { feature, color: Cesium.Color.clone(feature.color) };
        feature.color = Cesium.Color.YELLOW;
      }
    }
    api.viewer.scene.requestRender();
  }

  function describeValue(value) {
    if (value === undefined || value === null) return '–';
    if (typeof value === 'number') return Number.isInteger(value) ? String(value) : String(+value.toPrecision(10));
    if (typeof value === 'bigint') return value.toString();
    if (typeof value === 'object') {
      try { return JSON.stringify(value, (k, v) => (typeof v === 'bigint' ? v.toString() : v)); } catch (e) { return String(value); }
    }
    return String(value);
  }

  function positionAt(x, y) {
    const scene = api.viewer.scene;
    if (!scene.pickPositionSupported) return null;
    const cartesian = scene.pickPosition(new Cesium.Cartesian2(x, y));
    if (!cartesian) return null;
    // the depth under one pixel can miss the feature picked around it (an edge, a courtyard)
    const sphere = api.tileset && api.tileset.boundingSphere;
    if (sphere && Cesium.Cartesian3.distance(cartesian, sphere.center) > sphere.radius * 1.05) return null;
    const c = Cesium.Cartographic.fromCartesian(cartesian);
    if (!c) return null;
    return {
      longitude: +Cesium.Math.toDegrees(c.longitude).toFixed(7),
      latitude: +Cesium.Math.toDegrees(c.latitude).toFixed(7),
      height: +c.height.toFixed(2),
    };
  }

  function showPicked(result) {
    const panel = el('feature');
    const body = el('feature-table').tBodies[0];
    if (!result) {
      panel.hidden = true;
      body.replaceChildren();
      return;
    }
    el('feature-title').textContent = result.title;
    const rows = [];
    const row = (name, value, group) => {
      const tr = document.createElement('tr');
      if (group) tr.className = 'group';
      const th = document.createElement('th');
      th.textContent = name;
      tr.appendChild(th);
      if (!group) {
        const td = document.createElement('td');
        td.textContent = value;
        tr.appendChild(td);
      } else {
        th.colSpan = 2;
      }
      rows.push(tr);
    };
    for (const [name, value] of Object.entries(result.properties)) row(name, describeValue(value));
    if (result.position) {
      row('Position', '', true);
      row('longitude', `${result.position.longitude}°`);
      row('latitude', `${result.position.latitude}°`);
      row('height (ellipsoidal)', `${result.position.height} m`);
    }
    if (result.contentUrl) {
      row('Tile', '', true);
      row('content', result.contentUrl);
      if (result.featureId !== undefined) row('feature id', String(result.featureId));
    }
    body.replaceChildren(...rows);
    panel.hidden = false;
  }

  function pickAt(x, y) {
    const scene = api.viewer.scene;
    const picked = scene.pick(new Cesium.Cartesian2(x, y));
    let result = null;
    if (picked instanceof Cesium.Cesium3DTileFeature) {
      const props = {};
      const ids = picked.getPropertyIds();
      const first = ['gml_id', 'object_type', 'building_id'].filter((n) => ids.includes(n));
      for (const name of [...first, ...ids.filter((n) => !first.includes(n)).sort((a, b) => a.localeCompare(b))]) {
        props[name] = picked.getProperty(name);
      }
      const label = props.object_type || props.name || 'Feature';
      const id = props.gml_id || props.id || `#${picked.featureId}`;
      result = {
        kind: 'feature',
        title: `${label} ${id}`,
        properties: props,
        featureId: picked.featureId,
        contentUrl: picked.content && picked.content.url,
        position: positionAt(x, y),
      };
      highlight(picked);
    } else if (picked && picked.content) {
      result = {
        kind: 'tile',
        title: picked.content.pointsLength > 0 ? 'Point' : 'Tile',
        properties: {},
        contentUrl: picked.content.url,
        position: positionAt(x, y),
      };
      highlight(null);
    } else {
      highlight(null);
    }
    api.picked = result ? JSON.parse(JSON.stringify(result, (k, v) => (typeof v === 'bigint' ? v.toString() : v))) : null;
    showPicked(result);
    return api.picked;
  }

  // ---- frames ---------------------------------------------------------------------------

  function nextFrames(n) {
    const scene = api.viewer.scene;
    return new Promise((resolve) => {
      let frames = 0;
      const remove = scene.postRender.addEventListener(() => {
        if (++frames < n) {
          scene.requestRender();
          return;
        }
        remove();
        resolve();
      });
      scene.requestRender();
    });
  }

  // ---- start ----------------------------------------------------------------------------

  async function main() {
    fillListing();
    const url = params.get('tileset') || config.tileset;
    const viewer = createViewer();
    api.viewer = viewer;
    const scene = viewer.scene;
    if (Cesium.PostProcessStageLibrary.isSilhouetteSupported(scene)) {
      silhouette = Cesium.PostProcessStageLibrary.createEdgeDetectionStage();
      silhouette.uniforms.color = Cesium.Color.fromCssColorString('#ffd33d');
      silhouette.uniforms.length = 0.01;
      silhouette.selected = [];
      scene.postProcessStages.add(Cesium.PostProcessStageLibrary.createSilhouetteStage([silhouette]));
    }
    viewer.screenSpaceEventHandler.setInputAction(
      (event) => pickAt(event.position.x, event.position.y),
      Cesium.ScreenSpaceEventType.LEFT_CLICK
    );
    el('feature-close').addEventListener('click', () => {
      highlight(null);
      api.picked = null;
      showPicked(null);
    });
    el('style').addEventListener('change', (event) => applyStyle(event.target.value));

    if (!url) {
      el('open').open = true;
      setStatus('No tileset given: open one below, or add ?tileset=URL to the address.', 'warning');
      api.ready = true;
      return;
    }
    api.tilesetUrl = new URL(url, window.location.href).href;
    el('tileset-name').textContent = config.name && !params.get('tileset') ? config.name : url;
    el('open-url').value = url;
    setStatus('Loading tileset…');

    let tileset;
    try {
      const sse = Number(params.get('sse'));
      tileset = await Cesium.Cesium3DTileset.fromUrl(url, {
        maximumScreenSpaceError: sse > 0 ? sse : 16,
      });
    } catch (err) {
      fail(`Could not open ${url}: ${message(err)}`);
      return;
    }
    api.tileset = tileset;
    scene.primitives.add(tileset);
    noteSchema(tileset);
    tileset.tileLoad.addEventListener((tile) => {
      api.loadedTiles++;
      if (noteContent(tile.content)) propertiesChanged();
      loadStatus();
    });
    tileset.tileFailed.addEventListener((err) => {
      api.failedTiles.push({ url: err.url, message: String(err.message) });
      console.error(`tile failed: ${err.url}: ${err.message}`);
      loadStatus();
    });
    tileset.allTilesLoaded.addEventListener(loadStatus);
    renderStyleChoices();
    applyStyle('surface');

    viewer.homeButton.viewModel.command.beforeExecute.addEventListener((event) => {
      event.cancel = true;
      homeView(1.5);
    });
    const center = Cesium.Cartographic.fromCartesian(tileset.boundingSphere.center);
    if (!center || center.height < -100000) {
      setStatus('This tileset is not georeferenced (it lies around the Earth\'s centre).', 'warning');
      scene.globe.show = false;
      el('globe').checked = false;
    }
    try {
      await homeView(params.get('fly') === '1' ? 2 : 0);
    } catch (err) {
      console.warn(`camera: ${message(err)}`);
    }
    api.ready = true;
    loadStatus();
  }

  main().catch((err) => {
    console.error(err);
    fail(`The viewer could not start: ${message(err)}`);
  });
})();
