/// <reference lib="dom" />
// The live dashboard in a real browser: Debian's Chromium, headless, driven by playwright-core (installed
// by .ci/run). Under traffic, the page (admin key through HTTP Basic auth) renders a row per alias with live
// numbers and draws its charts, talking to nothing but the gateway. A screenshot goes to test-results/.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { Agent, request } from 'undici';
import { chromium, type Browser } from 'playwright-core';
import { ADMIN_KEY, DEMO_KEY, startStack, testConfigYaml, type Stack } from '../helpers/stack.js';

const CHROMIUM = '/usr/bin/chromium';
const HAVE_CHROMIUM = existsSync(CHROMIUM);
const SCREENSHOT_DIR = join(import.meta.dirname, '../../test-results');

if (!HAVE_CHROMIUM && process.env.CI !== 'true') {
  process.stderr.write(`dashboard browser test skipped: ${CHROMIUM} is not installed (.ci/run installs Debian's chromium)\n`);
}

describe.skipIf(!HAVE_CHROMIUM && process.env.CI !== 'true')('dashboard in headless Chromium', () => {
  let s: Stack;
  let browser: Browser;
  const agent = new Agent({ connections: 8 });
  let traffic = true;
  let loops: Array<Promise<void>> = [];
  let sent = 0;

  beforeAll(async () => {
    // In CI a missing browser fails here, loudly (never a silent skip).
    expect(existsSync(CHROMIUM), `${CHROMIUM} must be installed (.ci/run)`).toBe(true);
    s = await startStack('uws', testConfigYaml());
    browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'] });
    // Traffic for the whole test: two aliases, a few requests in flight at a time, bounded by the test's length.
    const one = async (model: string, scenario: boolean) => {
      const r = await request(s.url + '/v1/chat/completions', {
        method: 'POST',
        dispatcher: agent,
        headers: { authorization: `Bearer ${DEMO_KEY}`, 'content-type': 'application/json', ...(scenario ? { 'x-switchyard-scenario': 'dash' } : {}) },
        body: JSON.stringify({ model, messages: [{ role: 'user', content: 'hello dashboard' }], max_tokens: 16 }),
      });
      await r.body.text();
      sent++;
    };
    const loop = async (model: string) => {
      while (traffic && sent < 20_000) {
        await one(model, sent % 3 !== 0);
        await new Promise((r) => setTimeout(r, 5));
      }
    };
    loops = [loop('demo.chat'), loop('demo.chat'), loop('team.search')];
    // What the cache and policy features will record, so their columns show numbers too.
    const route = s.plan.routesByAlias.get('demo.chat')!;
    s.gateway.metrics.cacheLookup(route, 'response', 'hit');
    s.gateway.metrics.cacheLookup(route, 'response', 'miss');
    s.gateway.metrics.policyViolation(route, 'default-pii', 'redact');
  }, 60_000);

  afterAll(async () => {
    traffic = false;
    await Promise.all(loops);
    await browser?.close();
    await agent.close();
    await s?.close();
  });

  it('refuses the page without the admin key', async () => {
    const ctx = await browser.newContext();
    const page = await ctx.newPage();
    // Headless, the Basic challenge cannot be answered: the navigation fails on it.
    await expect(page.goto(s.url + '/dashboard')).rejects.toThrow(/ERR_INVALID_AUTH_CREDENTIALS/);
    // A wrong key gets the same 401 challenge.
    const wrong = await browser.newContext({ httpCredentials: { username: 'ops', password: 'sk-not-admin' } });
    const res = await wrong.request.get(s.url + '/dashboard/data');
    expect(res.status()).toBe(401);
    expect(res.headers()['www-authenticate']).toContain('Basic');
    await wrong.close();
    await ctx.close();
  });

  it('renders alias rows and charts with live numbers, and loads nothing from elsewhere', async () => {
    const ctx = await browser.newContext({ httpCredentials: { username: 'ops', password: ADMIN_KEY }, viewport: { width: 1500, height: 1000 } });
    const page = await ctx.newPage();
    const urls: string[] = [];
    page.on('request', (r) => urls.push(r.url()));
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    const res = await page.goto(s.url + '/dashboard?interval=300');
    expect(res?.status()).toBe(200);
    // Several polls: rates need two, the charts a few points.
    await page.waitForFunction(() => Number(document.body.dataset.polls ?? 0) >= 5, undefined, { timeout: 20_000 });

    const rows = await page.$$eval('#aliases tbody tr', (trs) =>
      trs.map((tr) => ({ alias: (tr as HTMLElement).dataset.alias, cells: Array.from(tr.querySelectorAll('td'), (td) => td.textContent ?? '') })),
    );
    const byAlias = new Map(rows.map((r) => [r.alias, r.cells]));
    expect([...byAlias.keys()].sort()).toEqual(['demo.chat', 'team.*']);
    const chat = byAlias.get('demo.chat')!;
    // alias, lane, requests, req/s, success, fallback, p50, p99, TTFT p50, TTFT p99, cost/h, cost, quota, cache hit, policy
    expect(chat[1]).toBe('direct_small');
    expect(Number(chat[2])).toBeGreaterThan(0);
    expect(Number(chat[3])).toBeGreaterThan(0); // live requests/s
    expect(chat[4]).toBe('100.0%');
    expect(Number(chat[6])).toBeGreaterThan(0);
    expect(Number(chat[7])).toBeGreaterThanOrEqual(Number(chat[6]));
    expect(Number(chat[10])).toBeGreaterThan(0); // cost per hour
    // Cache hit rate over response and prefix lookups: the scripted response hit, over every lookup so far
    // (each answer also counts a prefix-cache lookup, a miss for prompts this short, so it moves with traffic).
    expect(chat[13]).toMatch(/^\d+\.\d%$/);
    expect(Number(chat[13]!.slice(0, -1))).toBeGreaterThan(0);
    expect(chat[14]).toBe('1');
    // The requests count moves between polls.
    const before = Number(chat[2]);
    await page.waitForFunction((n) => Number(document.querySelector('tr[data-alias="demo.chat"] td:nth-child(3)')?.textContent) > n, before, { timeout: 10_000 });
    const pools = await page.$$eval('#pools tbody tr', (trs) => trs.map((tr) => (tr as HTMLElement).dataset.pool));
    expect(pools).toEqual(['maas-sim']);

    // Charts: points plotted, and pixels drawn in the series' colours (not just the grid).
    for (const id of ['c-rps', 'c-p99']) {
      const drawn = await page.$eval(`#${id}`, (c) => {
        const canvas = c as HTMLCanvasElement;
        const data = canvas.getContext('2d')!.getImageData(0, 0, canvas.width, canvas.height).data;
        let coloured = 0;
        for (let i = 0; i < data.length; i += 4) if (data[i + 3]! > 0 && Math.max(data[i]!, data[i + 1]!, data[i + 2]!) - Math.min(data[i]!, data[i + 1]!, data[i + 2]!) > 80) coloured++;
        return { points: Number(canvas.dataset.points), coloured };
      });
      expect(drawn.points, id).toBeGreaterThanOrEqual(3);
      expect(drawn.coloured, id).toBeGreaterThan(100);
    }
    expect(await page.textContent('#status')).toMatch(/^updated /);
    expect(Number(await page.textContent('#p-rps'))).toBeGreaterThan(0);
    expect(errors).toEqual([]);
    // Nothing but the gateway was asked for anything.
    expect(urls.length).toBeGreaterThan(5);
    expect(urls.filter((u) => !u.startsWith(s.url + '/'))).toEqual([]);

    mkdirSync(SCREENSHOT_DIR, { recursive: true });
    await page.screenshot({ path: join(SCREENSHOT_DIR, 'dashboard.png'), fullPage: true });
    expect(existsSync(join(SCREENSHOT_DIR, 'dashboard.png'))).toBe(true);
    await ctx.close();
  }, 60_000);
});
