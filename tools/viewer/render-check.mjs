#!/usr/bin/env node
// Load a citymodel viewer page in headless Chromium (software WebGL), wait for its tileset,
// and report what it drew and what a pick at the screen centre shows, as one JSON object.
//
// Usage: node render-check.mjs VIEWER_URL [--screenshot FILE.png] [--timeout SECONDS]
//                              [--style STYLE_ID] [--width W] [--height H]
// Needs: npm ci in this folder (playwright-core) and Debian's chromium (/usr/bin/chromium, or
// CHROMIUM_PATH). Playwright never downloads a browser here.
// Exit: 0 the page answered (the JSON says what it saw); 2 Chromium or the page failed.

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { chromium } from 'playwright-core';

const CHROMIUM = process.env.CHROMIUM_PATH || '/usr/bin/chromium';

function parseArgs(argv) {
  const o = { timeout: 180, width: 640, height: 480, screenshot: null, style: null };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--screenshot') o.screenshot = argv[++i];
    else if (a === '--timeout') o.timeout = Number(argv[++i]);
    else if (a === '--style') o.style = argv[++i];
    else if (a === '--width') o.width = Number(argv[++i]);
    else if (a === '--height') o.height = Number(argv[++i]);
    else if (!a.startsWith('--')) o.url = a;
    else throw new Error(`unknown option ${a}`);
  }
  if (!o.url) throw new Error('usage: node render-check.mjs VIEWER_URL [--screenshot FILE.png]');
  return o;
}

async function main() {
  const o = parseArgs(process.argv.slice(2));
  const out = { url: o.url, requests: [], offline: true, consoleErrors: [], pageErrors: [], httpErrors: [] };
  const pageOrigin = new URL(o.url).origin;
  const userDataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'citymodel-viewer-'));
  let context;
  try {
    context = await chromium.launchPersistentContext(userDataDir, {
      executablePath: CHROMIUM,
      headless: true,
      viewport: { width: o.width, height: o.height },
      deviceScaleFactor: 1,
      timeout: 60000,
      args: [
        '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
        '--disable-background-networking', '--disable-component-update', '--disable-sync',
        '--disable-default-apps', '--disable-extensions', '--disable-dev-shm-usage',
        '--ignore-gpu-blocklist', '--enable-webgl', '--use-gl=angle', '--use-angle=swiftshader',
        '--enable-unsafe-swiftshader',
      ],
    });
    const page = context.pages()[0] || (await context.newPage());
    page.on('request', (req) => {
      const url = req.url();
      if (url.startsWith('data:') || url.startsWith('blob:')) return;
      const origin = new URL(url).origin;
      out.requests.push(url);
      if (origin !== pageOrigin) out.offline = false;
    });
    page.on('console', (msg) => {
      if (msg.type() === 'error' && out.consoleErrors.length < 50) out.consoleErrors.push(msg.text().slice(0, 400));
    });
    page.on('pageerror', (err) => out.pageErrors.push(String(err).slice(0, 400)));
    page.on('response', (resp) => {
      if (resp.status() >= 400) out.httpErrors.push({ url: resp.url(), status: resp.status() });
    });

    const t0 = Date.now();
    await page.goto(o.url, { waitUntil: 'load', timeout: 120000 });
    await page.waitForFunction(() => window.citymodelViewer && window.citymodelViewer.ready, null, {
      timeout: o.timeout * 1000,
      polling: 250,
    });
    out.readyMs = Date.now() - t0;
    out.error = await page.evaluate(() => window.citymodelViewer.error);
    if (!out.error) {
      await page.waitForFunction(() => window.citymodelViewer.tilesLoaded, null, {
        timeout: o.timeout * 1000,
        polling: 250,
      });
      out.tilesLoadedMs = Date.now() - t0;
      // What the user sees: screenshots (the compositor's output), compared pixel by pixel
      // with the page's panels hidden.
      const hideUi = await page.addStyleTag({ content: '#panel, #feature { visibility: hidden !important; }' });
      const frames = (n) => page.evaluate((k) => window.citymodelViewer.nextFrames(k), n);
      const shot = async () => {
        await frames(2);
        return (await page.screenshot({ timeout: 120000 })).toString('base64');
      };
      const differing = (a, b) =>
        page.evaluate(async ([pa, pb]) => {
          const decode = async (b64) => {
            const img = new Image();
            img.src = `data:image/png;base64,${b64}`;
            await img.decode();
            const c = document.createElement('canvas');
            c.width = img.width;
            c.height = img.height;
            const ctx = c.getContext('2d', { willReadFrequently: true });
            ctx.drawImage(img, 0, 0);
            return ctx.getImageData(0, 0, c.width, c.height).data;
          };
          const [x, y] = [await decode(pa), await decode(pb)];
          let n = 0;
          for (let i = 0; i < x.length; i += 4) {
            if (Math.abs(x[i] - y[i]) + Math.abs(x[i + 1] - y[i + 1]) + Math.abs(x[i + 2] - y[i + 2]) > 24) n++;
          }
          return n;
        }, [a, b]);
      const t1 = Date.now();
      const state = await page.evaluate(() => {
        const v = window.citymodelViewer;
        const canvas = v.viewer.scene.canvas;
        return {
          tilesLoaded: v.tilesLoaded,
          loadedTiles: v.loadedTiles,
          failedTiles: v.failedTiles,
          styles: v.styles.map((s) => s.id),
          canvas: [canvas.width, canvas.height],
          timings: {},
        };
      });
      // against the plain sky (globe off): the globe's shading changes slightly from frame to
      // frame, which would count as tileset pixels
      await page.evaluate(() => document.getElementById('globe').click());
      const withTileset = await shot();
      await page.evaluate(() => { window.citymodelViewer.tileset.show = false; });
      const withoutTileset = await shot();
      await page.evaluate(() => { window.citymodelViewer.tileset.show = true; });
      state.tilesetPixels = await differing(withTileset, withoutTileset);
      await page.evaluate(() => document.getElementById('globe').click());
      state.timings.pixels = Date.now() - t1;
      Object.assign(state, await page.evaluate(() => {
        // pick at the centre; when it misses (a street), try rings of points around it
        const v = window.citymodelViewer;
        const canvas = v.viewer.scene.canvas;
        const w = canvas.clientWidth, h = canvas.clientHeight;
        const tries = [[Math.floor(w / 2), Math.floor(h / 2)]];
        for (let r = 25; r <= 150; r += 25) {
          for (let a = 0; a < 8; a++) tries.push([Math.floor(w / 2 + r * Math.cos(a * Math.PI / 4)), Math.floor(h / 2 + r * Math.sin(a * Math.PI / 4))]);
        }
        const result = { pickAttempts: 0 };
        for (const [x, y] of tries) {
          result.pickAttempts++;
          const picked = v.pickAt(x, y);
          if (picked && picked.kind === 'feature') {
            result.pick = { x, y, ...picked };
            break;
          }
        }
        const panel = document.getElementById('feature');
        result.panel = panel.hidden ? null : panel.textContent;
        return result;
      }));
      state.timings.pick = Date.now() - t1;
      if (o.style) {
        const before = await shot(); // with the picked building outlined, as after the style
        state.styleApplied = await page.evaluate((id) => window.citymodelViewer.setStyle(id), o.style);
        state.styleChangedPixels = await differing(before, await shot());
        Object.assign(state, await page.evaluate(() => ({
          style: window.citymodelViewer.style,
          legend: [...document.querySelectorAll('#legend li')].map((li) => li.textContent),
        })));
        state.timings.style = Date.now() - t1;
      }
      await hideUi.evaluate((node) => node.remove());
      out.state = state;
    }
    if (o.screenshot) await page.screenshot({ path: o.screenshot, timeout: 120000 });
    out.wallMs = Date.now() - t0;
    out.chromium = context.browser() ? context.browser().version() : null;
  } finally {
    if (context) await context.close().catch(() => {});
    fs.rmSync(userDataDir, { recursive: true, force: true });
  }
  out.requestCount = out.requests.length;
  out.requests = out.requests.slice(0, 20);
  console.log(JSON.stringify(out));
}

main().catch((err) => {
  console.log(JSON.stringify({ fatal: String(err && err.stack ? err.stack : err).slice(0, 2000) }));
  process.exit(2);
});
