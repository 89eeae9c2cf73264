// Which token opens which route, with api.tokenFile set: the API token every route; the
// metrics token GET /metrics and nothing else (403 elsewhere, writes included); no token only
// the probes (/healthz, /readyz) and the dashboard's static files (/ui). Checked on the rule itself and over every route of the real
// app (its OpenAPI document lists them), so a route added later is held to it too. The
// director behind the app is a stand-in with no dataplane: a request auth lets through may
// then fail in its handler, which is not what these tests look at.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { buildApi } from '../../src/api/app';
import { authorizer } from '../../src/api/auth';
import type { Daemon } from '../../src/control/daemon';

const TOKEN = 'the-api-token-0123456789';
const METRICS = 'the-metrics-token-0123456789';
const bearer = (t: string) => `Bearer ${t}`;

test('the rule: the API token opens every route, the metrics token metrics routes, no token open routes', () => {
  const authorize = authorizer({ token: TOKEN, metricsToken: METRICS });
  for (const access of [undefined, 'token', 'metrics', 'open'] as const) {
    assert.equal(authorize(access, bearer(TOKEN)), undefined);
    assert.equal(authorize(access, `bearer  ${TOKEN} `), undefined, 'the scheme in any case, spaces around the token');
  }
  assert.equal(authorize('metrics', bearer(METRICS)), undefined);
  assert.equal(authorize(undefined, bearer(METRICS))?.statusCode, 403);
  assert.equal(authorize('token', bearer(METRICS))?.statusCode, 403);
  assert.equal(authorize('open', undefined), undefined);
  for (const header of [undefined, '', bearer('wrong'), `Basic ${TOKEN}`, TOKEN, bearer(`${TOKEN}x`)]) {
    assert.equal(authorize('metrics', header)?.statusCode, 401, String(header));
    assert.equal(authorize(undefined, header)?.statusCode, 401, String(header));
  }
  const noMetrics = authorizer({ token: TOKEN });
  assert.equal(noMetrics('metrics', bearer(METRICS))?.statusCode, 401, 'without api.metricsTokenFile there is no metrics token');
  assert.equal(noMetrics('metrics', bearer(TOKEN)), undefined);
});

const standIn = (notReady?: string) =>
  ({ notReady: () => notReady, addon: { running: () => notReady === undefined } }) as unknown as Daemon;

async function app(notReady?: string) {
  const api = await buildApi({ daemon: standIn(notReady), token: TOKEN, metricsToken: METRICS });
  await api.ready();
  return api;
}

/** 401 or 403 when auth refused the request, else undefined (whatever the handler did). A
 * HEAD answer has no body to tell auth's refusal by, only its status. */
function refusedBy(r: { statusCode: number; body: string }): number | undefined {
  if (r.statusCode !== 401 && r.statusCode !== 403) return undefined;
  const message = r.body ? (JSON.parse(r.body) as { message?: string }).message ?? '' : undefined;
  if (r.statusCode === 401 && (message === undefined || /bearer token/.test(message))) return 401;
  if (r.statusCode === 403 && (message === undefined || /metrics token opens GET \/metrics only/.test(message))) return 403;
  return undefined;
}

test('every route of the app: what no token, a wrong one, the metrics token and the API token get', async () => {
  const api = await app();
  try {
    const doc = api.swagger() as { paths: Record<string, Record<string, unknown>> };
    const fill = (p: string) => p.replace('{id}', 'tcp:10.0.0.1:80').replace('{server}', '10.0.0.2:80');
    const routes: [string, string][] = Object.entries(doc.paths).flatMap(([p, ops]) =>
      Object.keys(ops).map((m) => [m.toUpperCase(), fill(p)] as [string, string]));
    routes.push(['HEAD', '/metrics'], ['HEAD', '/healthz'], ['GET', '/openapi.json'], ['GET', '/docs'], ['GET', '/no/such/route'],
      ['GET', '/ui'], ['GET', '/ui/'], ['GET', '/ui/ui.js'], ['GET', '/ui/vendor/uPlot.iife.min.js']);
    for (const must of ['GET /metrics', 'POST /v1/services', 'DELETE /v1/services/tcp:10.0.0.1:80', 'GET /v1/version', 'GET /readyz'])
      assert.ok(routes.some(([m, u]) => `${m} ${u}` === must), `${must} is among the routes`);
    const open = new Set(['GET /healthz', 'HEAD /healthz', 'GET /readyz', 'GET /ui', 'GET /ui/', 'GET /ui/ui.js', 'GET /ui/vendor/uPlot.iife.min.js']);
    const metrics = new Set(['GET /metrics', 'HEAD /metrics']);
    for (const [method, url] of routes) {
      const route = `${method} ${url}`;
      const send = async (authorization?: string) =>
        refusedBy(await api.inject({ method: method as 'GET', url, headers: authorization ? { authorization } : {} }));
      assert.equal(await send(), open.has(route) ? undefined : 401, `${route} without a token`);
      assert.equal(await send(bearer('a-wrong-token-0123456789')), open.has(route) ? undefined : 401, `${route} with a wrong token`);
      assert.equal(await send(bearer(METRICS)), open.has(route) || metrics.has(route) ? undefined : 403, `${route} with the metrics token`);
      assert.equal(await send(bearer(TOKEN)), undefined, `${route} with the API token`);
    }
  } finally {
    await api.close();
  }
});

test('/healthz answers while the process serves; /readyz is 503 with the reason until the director is ready', async () => {
  const starting = await app('the dataplane is not running');
  try {
    assert.deepEqual((await starting.inject({ url: '/healthz' })).json(), { status: 'alive' });
    const r = await starting.inject({ url: '/readyz' });
    assert.equal(r.statusCode, 503);
    assert.equal(r.json().message, 'not ready: the dataplane is not running');
    const v = await starting.inject({ url: '/v1/version', headers: { authorization: bearer(TOKEN) } });
    assert.equal(v.json().dataplaneRunning, false);
  } finally {
    await starting.close();
  }
  const ready = await app();
  try {
    const r = await ready.inject({ url: '/readyz' });
    assert.equal(r.statusCode, 200);
    assert.deepEqual(r.json(), { status: 'ready' });
    const v = (await ready.inject({ url: '/v1/version', headers: { authorization: bearer(TOKEN) } })).json();
    assert.deepEqual(Object.keys(v).sort(), ['commit', 'dataplaneRunning', 'dpdk', 'version']);
    assert.equal(v.dataplaneRunning, true);
  } finally {
    await ready.close();
  }
});

test('the OpenAPI document marks the probes as needing no token', async () => {
  const api = await app();
  try {
    const doc = api.swagger() as { paths: Record<string, Record<string, { security?: unknown[] }>> };
    assert.deepEqual(doc.paths['/healthz'].get.security, []);
    assert.deepEqual(doc.paths['/readyz'].get.security, []);
    assert.equal(doc.paths['/v1/version'].get.security, undefined, 'the document-wide bearer applies');
  } finally {
    await api.close();
  }
});
