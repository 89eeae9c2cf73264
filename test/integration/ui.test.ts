// The /ui dashboard in a real browser (Debian's chromium, driven by playwright-core) against
// `fulcrum serve` carrying traffic in the topology's namespaces. The browser runs inside the
// director's namespace (a wrapper execs chromium under `ip netns exec`; playwright talks to it
// over the inherited pipe), so it reaches the API on the namespace's loopback. The page shows
// the services and their real servers once given the token; a weight set and a drain made in
// the page reach the dataplane (effectiveWeight, and where the VIP's requests go); a killed
// real server turns red within its health-check window; markup in a load agent's answer shows as
// text. Screenshots go to test-artifacts/ui/.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import YAML from 'yaml';
import type { Browser, Page } from 'playwright-core';
import { cannotRun, configFor, curlMany, root, run, tmpFile, Topology } from './harness';
import { Serve } from './serve_harness';

const CHROMIUM = '/usr/bin/chromium';
const hasPlaywright = (() => { try { require.resolve('playwright-core'); return true; } catch { return false; } })();
const skip = cannotRun()
  ?? (!fs.existsSync(CHROMIUM) ? `${CHROMIUM} is not installed (scripts/setup installs Debian's chromium)` : undefined)
  ?? (!hasPlaywright ? 'playwright-core is not installed (npm ci installs the devDependencies)' : undefined);
const API = 19591;
const VIP = '198.18.0.100';
const SERVICE = `tcp:${VIP}:80`;
const TOKEN = 'dashboard-secret-0123456789';
const ARTIFACTS = path.join(root, 'test-artifacts/ui');
const INTERVAL = 0.3, FALL = 2;
const AGENT = 8090;
const MARKUP = 'down <b class=pwn>bold</b><img class=pwn src=x onerror=alert(1)>';

const t = new Topology('fiu', 3);
let serve: Serve | undefined;
let browser: Browser | undefined;
let page: Page | undefined;
const pageErrors: string[] = [];

/** The API as the director's namespace sees it, with the token. */
function api(p: string) {
  const r = t.exec('dir', ['curl', '-sS', '-m', '5', '-H', `Authorization: Bearer ${TOKEN}`, `http://127.0.0.1:${API}${p}`]);
  return JSON.parse(r.stdout);
}
const servers = () => (api(`/v1/services/${SERVICE}`) as { realServers: Array<{ id: string; weight: number; effectiveWeight: number }> }).realServers;
const rowOf = (service: string, server: string) => `.service[data-service="${service}"] tr.server[data-server="${server}"]`;
const row = (server: string) => rowOf(SERVICE, server);
const srv = (i: number) => `198.19.0.${10 + i}:8080`;

async function waitFor(what: string, ok: () => boolean | Promise<boolean>, ms = 20_000): Promise<number> {
  const t0 = Date.now();
  while (Date.now() - t0 < ms) {
    if (await ok()) return Date.now() - t0;
    await sleep(100);
  }
  throw new Error(`${what} did not happen in ${ms} ms\n${serve?.out.slice(-3000) ?? ''}`);
}
const shot = (name: string) => page!.screenshot({ path: path.join(ARTIFACTS, `${name}.png`), fullPage: true });

before(async () => {
  if (skip) return;
  t.up();
  const dir = path.dirname(tmpFile('x'));
  const tokenFile = path.join(dir, 'token');
  fs.writeFileSync(tokenFile, `${TOKEN}\n`, { mode: 0o600 });
  const cfg = configFor(t, {
    services: [{ protocol: 'tcp', address: VIP, port: 80, scheduler: 'wrr',
      healthChecks: [{ type: 'tcp', interval: INTERVAL, timeout: 0.5, fall: FALL, rise: 2, delayBeforeRetry: INTERVAL }],
      realServers: [1, 2, 3].map((i) => ({ address: t.serverAddress(i), port: 8080, method: 'nat' as const, weight: 1 })) },
    // srv1's load agent answers with markup: it must reach the page as text
    { protocol: 'tcp', address: VIP, port: 81, scheduler: 'rr',
      healthChecks: [{ type: 'agent', port: AGENT, interval: INTERVAL, timeout: 0.5, fall: 1, rise: 1 }],
      realServers: [{ address: t.serverAddress(1), port: 8080, method: 'nat' as const, weight: 1 }] }],
    api: { listen: `127.0.0.1:${API}`, tokenFile },
  });
  const cfgFile = path.join(dir, 'fulcrum.yaml');
  fs.writeFileSync(cfgFile, YAML.stringify(cfg));
  t.background('srv1', ['node', '-e', `require('net').createServer((s) => s.end(${JSON.stringify(MARKUP + '\n')})).listen(${AGENT})`]);
  t.exec('dir', ['ip', 'link', 'set', 'lo', 'up']);
  serve = new Serve(cfgFile, path.join(dir, 'state'), ['ip', 'netns', 'exec', t.ns('dir')]);
  await serve.start();

  // chromium in the director's namespace: playwright's pipe (fds 3 and 4) passes through exec.
  const wrapper = path.join(dir, 'chromium-in-netns');
  fs.writeFileSync(wrapper, `#!/bin/sh\nexec ip netns exec ${t.ns('dir')} ${CHROMIUM} "$@"\n`, { mode: 0o755 });
  const { chromium } = require('playwright-core') as typeof import('playwright-core');
  browser = await chromium.launch({ executablePath: wrapper, headless: true, timeout: 60_000 });
  page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
  page.on('pageerror', (e) => pageErrors.push(e.message));
  page.on('dialog', (d) => { pageErrors.push(`a dialog: ${d.message()}`); void d.dismiss(); });
  page.on('console', (m) => { if (m.type() === 'error' && !/401/.test(m.text())) pageErrors.push(m.text()); });
  fs.mkdirSync(ARTIFACTS, { recursive: true });
});

after(async () => {
  await browser?.close().catch(() => undefined);
  await serve?.stop();
  if (!skip) t.down();
});

test('without the token the page says so; with it, it shows the service, its real servers, their health and traffic', { skip, timeout: 90_000 }, async () => {
  const p = page!;
  await p.goto(`http://127.0.0.1:${API}/ui`);
  await p.waitForSelector('#status.error', { timeout: 10_000 });
  assert.match(await p.textContent('#status') ?? '', /enter the API token/);
  assert.equal(await p.locator('.service').count(), 0);

  await p.fill('#token', TOKEN);
  await p.click('#token-form button[type=submit]');
  await p.waitForSelector(row(srv(3)), { timeout: 10_000 });
  assert.equal(await p.evaluate("sessionStorage.getItem('fulcrum.token')"), TOKEN, 'the token is kept for the tab');
  assert.deepEqual(await p.locator(`.service[data-service="${SERVICE}"] tr.server .id`).allTextContents(), [1, 2, 3].map(srv));
  await waitFor('every server up in the page', async () => await p.locator(`.service[data-service="${SERVICE}"] tr.server.health-up`).count() === 3);
  assert.match(await p.textContent(`${row(srv(1))} .reason`) ?? '', /^ok: /, 'the last check\'s detail');

  // traffic: the page's counters and charts follow it
  for (let i = 0; i < 4; i++) assert.equal(curlMany(t, `http://${VIP}`, 15).length, 15);
  await waitFor('the connections in the page', async () => {
    const m = /([\d.]+) connections since start/.exec(await p.textContent(`.service[data-service="${SERVICE}"] .conns`) ?? '');
    return !!m && Number(m[1]) >= 60;
  });
  await waitFor('a connection rate in the page', async () =>
    Number(/^([\d.]+)k? conn\/s/.exec(await p.textContent(`.service[data-service="${SERVICE}"] .conns`) ?? '')?.[1]) > 0);
  assert.ok(await p.locator(`.service[data-service="${SERVICE}"] .uplot`).count() >= 2 + 3, 'a service\'s charts and one per real server');
  assert.match(await p.textContent('#workers tbody') ?? '', /\d/, 'the workers table is filled');
  assert.match(await p.textContent('#ports tbody') ?? '', /clients/);
  await shot('1-services');
  assert.deepEqual(pageErrors, []);
});

test('a weight set and a drain made in the page reach the dataplane', { skip, timeout: 60_000 }, async () => {
  const p = page!;
  await p.fill(`${row(srv(1))} .weight input`, '5');
  await p.click(`${row(srv(1))} .set-weight`);
  await waitFor('weight 5 in the dataplane', () => servers().find((r) => r.id === srv(1))?.effectiveWeight === 5);
  await waitFor('weight 5 in the page', async () => (await p.textContent(`${row(srv(1))} .effective`)) === '5');

  await p.click(`${row(srv(2))} .drain`);
  await waitFor('srv2 drained in the dataplane', () => servers().find((r) => r.id === srv(2))?.effectiveWeight === 0);
  await waitFor('the page offers to undrain', async () => (await p.textContent(`${row(srv(2))} .drain`)) === 'Undrain');
  // wrr over 5/0/1: the VIP's new connections go to srv1 and srv3 only
  const answers = curlMany(t, `http://${VIP}`, 12);
  assert.equal(answers.length, 12);
  assert.deepEqual(new Set(answers), new Set(['srv1', 'srv3']), answers.join(' '));
  await shot('2-drained');

  await p.click(`${row(srv(2))} .drain`);
  await waitFor('srv2 back to its weight', () => servers().find((r) => r.id === srv(2))?.effectiveWeight === 1);
  assert.deepEqual(servers().map((r) => [r.id, r.weight]), [[srv(1), 5], [srv(2), 1], [srv(3), 1]]);
  assert.deepEqual(pageErrors, []);
});

test('a killed real server turns red in the page within its health-check window', { skip, timeout: 60_000 }, async () => {
  const p = page!;
  // the namespace's processes: srv3's HTTP server
  for (const pid of run('ip', ['netns', 'pids', t.ns('srv3')]).stdout.split('\n').filter(Boolean)) process.kill(Number(pid), 'SIGKILL');
  // fall x interval to be declared down, plus the page's 2 s poll and a margin
  const window = FALL * INTERVAL * 1000 + 2000 + 1500;
  const took = await waitFor('srv3 red in the page', async () =>
    await p.locator(`${row(srv(3))}.health-down`).count() === 1, window);
  assert.equal(await p.textContent(`${row(srv(3))} .badge`), 'down');
  assert.match(await p.textContent(`${row(srv(3))} .reason`) ?? '', /^failed: /);
  const red = await p.evaluate(`getComputedStyle(document.querySelector(${JSON.stringify(`${row(srv(3))} td`)})).backgroundColor`);
  assert.equal(red, 'rgb(253, 226, 226)', 'the row is drawn red');
  assert.equal(await p.locator(`.service[data-service="${SERVICE}"] tr.server.health-up`).count(), 2);
  await shot('3-server-down');
  assert.ok(took < window, `${took} ms`);
  assert.deepEqual(pageErrors, []);
});

test('what a real server reports reaches the page as text, never as markup', { skip, timeout: 30_000 }, async () => {
  const p = page!;
  const reason = `${rowOf(`tcp:${VIP}:81`, srv(1))} .reason`;
  await waitFor('the agent\'s answer in the page', async () => (await p.textContent(reason).catch(() => null))?.includes('agent says') ?? false);
  assert.ok((await p.textContent(reason))!.includes(JSON.stringify(MARKUP)), await p.textContent(reason) ?? '');
  assert.equal(await p.locator('.pwn').count(), 0, 'no element made of it');
  assert.deepEqual(pageErrors, [], 'no script of it ran');
});
