import { readdirSync, readFileSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { parseBundle } from '../main/core/exec/bundle.js';
import { ReplayHost } from '../main/core/exec/replay-host.js';
import { PostureBackend } from '../main/core/ui-server/posture-backend.js';
import { startUiServer } from '../main/core/ui-server/ui-server.js';
import { buildRenderer } from '../test/e2e/build-renderer.js';
import { launchChromium } from '../test/e2e/chromium.js';
import { percentile, report, round } from './stats.js';

/** Gzipped size (level 9, what a server or asar would ship) of every file with this extension. */
function gzippedKb(dir: string, ext: string): number {
  const files = readdirSync(join(dir, 'assets')).filter((f) => f.endsWith(ext));
  return files.reduce((sum, f) => sum + gzipSync(readFileSync(join(dir, 'assets', f)), { level: 9 }).length, 0) / 1024;
}

/**
 * The renderer's weight and its time to first render in Debian's Chromium, served by the real
 * web UI server. Baseline in the same run: a page whose only script marks "rendered" at once
 * (what the browser and server cost before any of our code runs).
 */
export async function run(args: string[]): Promise<void> {
  const json = args.includes('--json');
  const runs = Math.max(5, Number(args.find((a) => a.startsWith('--runs='))?.slice(7) ?? 15));
  const dir = await mkdtemp(join(tmpdir(), 'ward-bench-ui-'));
  const appDir = join(dir, 'app');
  const baselineDir = join(dir, 'baseline');
  await buildRenderer(appDir);
  await mkdir(join(baselineDir, 'assets'), { recursive: true });
  await writeFile(join(baselineDir, 'index.html'), '<!doctype html><div id="root"></div><script type="module" src="./assets/mark.js"></script>');
  await writeFile(join(baselineDir, 'assets', 'mark.js'), "requestAnimationFrame(() => performance.mark('ward:first-render'));");

  const rendererGzipKb = gzippedKb(appDir, '.js');
  const cssGzipKb = gzippedKb(appDir, '.css');
  const bundle = parseBundle(readFileSync(join(import.meta.dirname, '..', 'test', 'fixtures', 'bundles', 'darwin-noncompliant.json'), 'utf8'));
  const backend = new PostureBackend({ host: new ReplayHost('darwin', bundle.records) });
  const browser = await launchChromium();

  /** Open the one-time link `runs` times (fresh page each time) and read the first-render mark. */
  async function measure(staticDir: string): Promise<number[]> {
    const server = await startUiServer({ backend, staticDir });
    const times: number[] = [];
    try {
      for (let i = 0; i < runs + 1; i++) {
        const page = await browser.context.newPage();
        await page.goto(i === 0 ? server.url : server.origin);
        await page.waitForFunction(() => performance.getEntriesByName('ward:first-render').length > 0);
        const ms = await page.evaluate(() => performance.getEntriesByName('ward:first-render')[0]?.startTime ?? Number.NaN);
        if (i > 0) times.push(ms); // the first load pays for the token exchange redirect
        await page.close();
      }
    } finally {
      await server.close();
    }
    return times;
  }

  const ours = await measure(appDir);
  const baseline = await measure(baselineDir);
  await browser.close();
  await backend.close();
  await rm(dir, { recursive: true, force: true });

  const firstRenderMs = round(percentile(ours, 50), 1);
  const figures = {
    bench: 'ui',
    rendererGzipKb: round(rendererGzipKb, 1),
    cssGzipKb: round(cssGzipKb, 1),
    runs,
    firstRenderMs,
    firstRenderP95Ms: round(percentile(ours, 95), 1),
    baselineFirstRenderMs: round(percentile(baseline, 50), 1),
    /** What our bundle adds over the floor this machine shows right now (the load matters: see loadavg). */
    overBaselineMs: round(percentile(ours, 50) - percentile(baseline, 50), 1),
    loadAverage1m: round(loadavg()[0] ?? Number.NaN, 2),
  };
  report(
    json,
    [
      `ui: renderer JS ${figures.rendererGzipKb} KB gzipped (+ CSS ${figures.cssGzipKb} KB)   goal ≤ 300 KB`,
      `    time to first render in Chromium over ${runs} loads: p50 ${firstRenderMs} ms, p95 ${figures.firstRenderP95Ms} ms   goal ≤ 500 ms`,
      `    baseline (a page that marks "rendered" at once, same server and browser): p50 ${figures.baselineFirstRenderMs} ms`,
      `    ours over baseline: ${figures.overBaselineMs} ms   (1-minute load average during the run: ${figures.loadAverage1m})`,
    ],
    figures,
  );
}
