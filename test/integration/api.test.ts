// The REST API against a running director (`fulcrum serve` on net_null ports: the real
// dataplane, no network touched): every resource's success and failure paths, the OpenAPI
// document, metrics with node_exporter's names, auth on a non-loopback listener, the probes,
// the version and the metrics token on a director with a token, and a kill -9 during a stream
// of changes coming back to the last acknowledged state.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import YAML from 'yaml';
import { cannotRun, root, run, tmpFile } from './harness';
import { call, nullConfig, Serve } from './serve_harness';

const skip = cannotRun();

describe('the REST API', { skip }, () => {
  const port = 19391;
  const base = `http://127.0.0.1:${port}`;
  const cfgFile = tmpFile('fulcrum.yaml');
  const serve = new Serve(cfgFile, path.dirname(cfgFile) + '/state');
  before(async () => {
    fs.writeFileSync(cfgFile, YAML.stringify(nullConfig(port)));
    await serve.start();
  });
  after(() => serve.stop());

  const svc = { protocol: 'udp', address: '198.18.0.53', port: 53, scheduler: 'rr',
    realServers: [{ address: '198.19.0.21', port: 53, method: 'nat', weight: 2 }] };

  test('lists the services of the config file with counters and rates', async () => {
    const r = await call(base, 'GET', '/v1/services');
    assert.equal(r.status, 200);
    assert.equal(r.json.length, 1);
    assert.equal(r.json[0].id, 'tcp:198.18.0.100:80');
    assert.equal(r.json[0].stats.conns, 0);
    assert.equal(r.json[0].rates.cps, 0);
    assert.equal(r.json[0].realServers[0].id, '198.19.0.11:8080');
  });

  test('without ha.vrrp or ha.bgp the director owns its VIPs and has nothing to drain to', async () => {
    const h = await call(base, 'GET', '/v1/ha');
    assert.equal(h.status, 200);
    assert.deepEqual(h.json, { vrrp: null, owner: true, bgp: null });
    const d = await call(base, 'PUT', '/v1/ha/drain', { drained: true });
    assert.equal(d.status, 409);
    assert.match(d.json.message, /no ha\.vrrp or ha\.bgp section/);
    const m = await call(base, 'GET', '/metrics');
    assert.match(m.text, /\nfulcrum_vip_owner 1\n/);
    assert.doesNotMatch(m.text, /\nfulcrum_vrrp_state\{/);
    assert.doesNotMatch(m.text, /\nfulcrum_bgp_session_established\{/);
  });

  test('creates a service (201), refuses a duplicate (409), 404 for an unknown one', async () => {
    const r = await call(base, 'POST', '/v1/services', svc);
    assert.equal(r.status, 201, r.text);
    assert.equal(r.json.id, 'udp:198.18.0.53:53');
    const dup = await call(base, 'POST', '/v1/services', svc);
    assert.equal(dup.status, 409);
    assert.match(dup.json.message, /already exists/);
    assert.equal((await call(base, 'GET', '/v1/services/udp:198.18.0.53:53')).json.scheduler, 'rr');
    const nf = await call(base, 'GET', '/v1/services/tcp:10.9.9.9:1');
    assert.equal(nf.status, 404);
    assert.match(nf.json.message, /not found/);
  });

  test('a bad body is refused with every problem by its path, and nothing changes', async () => {
    const r = await call(base, 'POST', '/v1/services', { protocol: 'tcp', address: '198.18.0.7', port: 80, scheduler: 'nope',
      realServers: [{ address: '198.19.0.31', weight: -1, color: 'red' }] });
    assert.equal(r.status, 400);
    assert.ok(r.json.problems.some((p: string) => p.startsWith('scheduler')), JSON.stringify(r.json));
    assert.ok(r.json.problems.some((p: string) => p.startsWith('realServers[0].weight')), JSON.stringify(r.json));
    assert.ok(r.json.problems.some((p: string) => p.startsWith('realServers[0].color: unknown field')), JSON.stringify(r.json));
    assert.ok(r.json.problems.includes("scheduler: unknown scheduler 'nope' (rr, wrr, lc, wlc, sed, nq, lblc, lblcr, dh, sh, mh, fo, ovf, twos)"), JSON.stringify(r.json));
    const hc = await call(base, 'POST', '/v1/services', { protocol: 'tcp', address: '198.18.0.7', port: 80, healthChecks: [{ type: 'http', interval: 0.01 }] });
    assert.equal(hc.status, 400);
    assert.deepEqual(hc.json.problems, ['healthChecks[0].interval: must be >= 0.1'], 'the field and its range, not "Expected union value"');
    assert.equal((await call(base, 'GET', '/v1/services')).json.length, 2);
    const sem = await call(base, 'POST', '/v1/services', { protocol: 'tcp', address: '198.18.0.8', port: 0, scheduler: 'rr' });
    assert.equal(sem.status, 400);
    assert.match(sem.json.problems.join(), /zero port specified for non-persistent service/);
  });

  test('real servers: add, duplicate, drain with weight 0, replace, flush, delete', async () => {
    const id = 'udp:198.18.0.53:53';
    const add = await call(base, 'POST', `/v1/services/${id}/servers`, { address: '198.19.0.22', port: 53, method: 'nat', weight: 5 });
    assert.equal(add.status, 201, add.text);
    assert.equal(add.json.effectiveWeight, 5);
    const dup = await call(base, 'POST', `/v1/services/${id}/servers`, { address: '198.19.0.22', port: 53 });
    assert.equal(dup.status, 409);
    assert.match(dup.json.message, /real server 198\.19\.0\.22:53 already exists/);
    const drain = await call(base, 'PATCH', `/v1/services/${id}/servers/198.19.0.22:53`, { weight: 0 });
    assert.equal(drain.status, 200);
    assert.equal(drain.json.weight, 0);
    assert.equal(drain.json.effectiveWeight, 0);
    const put = await call(base, 'PUT', `/v1/services/${id}/servers/198.19.0.22:53`, { address: '198.19.0.22', port: 53, method: 'nat', weight: 7, upperThreshold: 100 });
    assert.equal(put.json.weight, 7);
    assert.equal(put.json.upperThreshold, 100);
    const mismatch = await call(base, 'PUT', `/v1/services/${id}/servers/198.19.0.22:53`, { address: '198.19.0.23', port: 53 });
    assert.equal(mismatch.status, 400);
    const flush = await call(base, 'POST', `/v1/services/${id}/servers/198.19.0.22:53/flush`);
    assert.equal(flush.status, 200);
    assert.equal(flush.json.flushed, 0);
    assert.equal((await call(base, 'DELETE', `/v1/services/${id}/servers/198.19.0.22:53`)).status, 204);
    assert.equal((await call(base, 'GET', `/v1/services/${id}/servers/198.19.0.22:53`)).status, 404);
  });

  test('a SYN-proxied service takes no real server whose replies bypass the director, by any write', async () => {
    const id = 'tcp:198.18.0.54:80';
    const svc = { protocol: 'tcp', address: '198.18.0.54', port: 80, synproxy: true,
      realServers: [{ address: '198.19.0.31', port: 80, method: 'nat' }] };
    assert.equal((await call(base, 'POST', '/v1/services', svc)).status, 201);
    const dr = { address: '198.19.0.32', port: 80, method: 'dr' };
    const add = await call(base, 'POST', `/v1/services/${id}/servers`, dr);
    assert.equal(add.status, 400, add.text);
    assert.match(add.json.message, /the SYN proxy needs NAT or FullNAT real servers/);
    const patch = await call(base, 'PATCH', `/v1/services/${id}/servers/198.19.0.31:80`, { method: 'tun' });
    assert.equal(patch.status, 400, patch.text);
    const batch = await call(base, 'POST', '/v1/batch', { ops: [{ method: 'POST', path: `/v1/services/${id}/servers`, body: dr }] });
    assert.equal(batch.json.results[0].status, 400, batch.text);
    const now = await call(base, 'GET', `/v1/services/${id}`);
    assert.deepEqual(now.json.realServers.map((r: { method: string }) => r.method), ['nat'], 'refused means absent');
    assert.equal((await call(base, 'DELETE', `/v1/services/${id}`)).status, 204);
  });

  test('a service is patched and replaced, and deleted', async () => {
    const id = 'udp:198.18.0.53:53';
    const p = await call(base, 'PATCH', `/v1/services/${id}`, { scheduler: 'sh', persistence: { timeout: 60 } });
    assert.equal(p.status, 200, p.text);
    assert.equal(p.json.scheduler, 'sh');
    const put = await call(base, 'PUT', `/v1/services/${id}`, { protocol: 'udp', address: '198.18.0.53', port: 53, scheduler: 'wrr' });
    assert.equal(put.json.scheduler, 'wrr');
    assert.equal(put.json.persistence, undefined, 'PUT replaces every attribute');
    assert.equal(put.json.realServers.length, 1, 'real servers are kept when the body has none');
    assert.equal((await call(base, 'DELETE', `/v1/services/${id}`)).status, 204);
    assert.equal((await call(base, 'DELETE', `/v1/services/${id}`)).status, 404);
  });

  test('command health checks are refused over the API', async () => {
    const r = await call(base, 'PATCH', '/v1/services/tcp:198.18.0.100:80', { healthChecks: [{ type: 'command', command: ['/bin/true'] }] });
    assert.equal(r.status, 403);
    assert.match(r.json.message, /command checks can only come from the config file/);
  });

  test('timeouts: get and set as ipvsadm --set', async () => {
    assert.deepEqual((await call(base, 'GET', '/v1/timeouts')).json, { tcp: 900, tcpfin: 120, udp: 300 });
    assert.equal((await call(base, 'PUT', '/v1/timeouts', { tcp: 600, tcpfin: 60, udp: 30 })).status, 200);
    assert.deepEqual((await call(base, 'GET', '/v1/timeouts')).json, { tcp: 600, tcpfin: 60, udp: 30 });
    assert.equal((await call(base, 'PUT', '/v1/timeouts', { tcp: 0, tcpfin: 60, udp: 30 })).status, 400);
  });

  test('config: saved as ipvsadm -S text, restored from it atomically; a bad line changes nothing', async () => {
    const saved = await call(base, 'GET', '/v1/config?format=ipvsadm');
    assert.equal(saved.status, 200);
    assert.match(saved.type, /text\/plain/);
    assert.equal(saved.text, '-A -t 198.18.0.100:80 -s wlc\n-a -t 198.18.0.100:80 -r 198.19.0.11:8080 -m -w 1\n');
    const text = '-A -u 198.18.0.54:53 -s rr\n-a -u 198.18.0.54:53 -r 198.19.0.41:53 -m -w 3\n' + saved.text;
    const r = await call(base, 'PUT', '/v1/config', text);
    assert.equal(r.status, 200, r.text);
    assert.deepEqual((await call(base, 'GET', '/v1/services')).json.map((s: { id: string }) => s.id), ['udp:198.18.0.54:53', 'tcp:198.18.0.100:80']);
    const bad = await call(base, 'PUT', '/v1/config', '-A -u 198.18.0.55:53 -s rr\n-a -u 198.18.0.99:53 -r 198.19.0.41:53 -m\n');
    assert.equal(bad.status, 400);
    assert.match(bad.json.message, /line 2: Service not defined/);
    assert.equal((await call(base, 'GET', '/v1/services')).json.length, 2);
    const json = (await call(base, 'GET', '/v1/config')).json;
    assert.equal(json.services.length, 2);
    assert.equal((await call(base, 'PUT', '/v1/config', { services: [json.services[1]] })).status, 200);
    assert.equal((await call(base, 'GET', '/v1/services')).json.length, 1);
    assert.equal((await call(base, 'PUT', '/v1/config', { dataplane: {} })).status, 400);
  });

  test('oversized bodies get 413, non-JSON 400, unknown routes 404', async () => {
    const big = { protocol: 'tcp', address: '198.18.0.9', port: 80, pad: 'x'.repeat(2 * 1024 * 1024) };
    assert.equal((await call(base, 'POST', '/v1/services', big)).status, 413);
    const r = await fetch(base + '/v1/services', { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{nope' });
    assert.equal(r.status, 400);
    assert.equal((await call(base, 'GET', '/v1/nothing')).status, 404);
  });

  test('every malformed request is a 4xx naming where, never a 500', async () => {
    const cases: Array<[string, string, unknown, number, RegExp]> = [
      ['PUT', '/v1/config', { services: 5 }, 400, /services: Expected array/],
      ['PUT', '/v1/config', { services: [{ protocol: 'tcp', address: '198.18.0.5', port: 80 }, { protocol: 'tcp', address: '198.18.0.5', port: 80 }] }, 400, /services\[1\]: service tcp:198\.18\.0\.5:80 is also services\[0\]/],
      ['PUT', '/v1/config', [1, 2], 400, /must be a JSON object/],
      ['POST', '/v1/batch', { ops: [{ method: 'DELETE', path: '/v1/services/%E0%A4%A' }] }, 200, /bad percent-escape/],
      ['POST', '/v1/batch', { ops: [{ method: 'GET', path: '/v1/services' }] }, 400, /ops\[0\]\.method|method/],
      ['PATCH', '/v1/services/tcp:198.18.0.100:80', { realServers: 'x' }, 400, /realServers/],
      ['POST', '/v1/services/tcp:198.18.0.100:80/servers', { address: 'nope' }, 400, /address/],
    ];
    for (const [method, p, body, status, want] of cases) {
      const r = await call(base, method, p, body);
      assert.equal(r.status, status, `${method} ${p} ${JSON.stringify(body)}: ${r.text}`);
      assert.match(r.text, want);
    }
    const nd = await fetch(base + '/v1/batch', { method: 'POST', headers: { 'content-type': 'application/x-ndjson' },
      body: '{"method":"POST","path":"/v1/services","body":{"protocol":"tcp","address":"198.18.0.6","port":80}}\n{nope\n' });
    assert.equal(nd.status, 400);
    assert.match(await nd.text(), /line 2: not valid JSON/);
    assert.equal((await call(base, 'GET', '/v1/services/tcp:198.18.0.6:80')).status, 404, 'a bad NDJSON batch changes nothing');
    // Read as it arrives: lines cut across the body's pieces anywhere are the same ops.
    const text = '{"method":"POST","path":"/v1/services","body":{"protocol":"tcp","address":"198.18.0.7","port":80}}\n\n' +
      '{"method":"POST","path":"/v1/services/tcp%3A198.18.0.7%3A80/servers","body":{"address":"198.19.0.70","port":80,"method":"nat"}}';
    const bytes = new TextEncoder().encode(text);
    const pieces = new ReadableStream<Uint8Array>({
      start(c) { for (let i = 0; i < bytes.length; i += 7) c.enqueue(bytes.slice(i, i + 7)); c.close(); },
    });
    const streamed = await fetch(base + '/v1/batch', { method: 'POST', headers: { 'content-type': 'application/x-ndjson' }, body: pieces, duplex: 'half' } as RequestInit);
    assert.equal(streamed.status, 200);
    assert.deepEqual(((await streamed.json()) as { results: Array<{ status: number }> }).results.map((x) => x.status), [201, 201]);
    assert.equal((await call(base, 'DELETE', '/v1/services/tcp:198.18.0.7:80')).status, 204);
    const empty = await fetch(base + '/v1/batch', { method: 'POST', headers: { 'content-type': 'application/x-ndjson' }, body: '\n\n' });
    assert.equal(empty.status, 400);
    assert.match(await empty.text(), /no ops/);
  });

  test('a batch checks each op as its own route would: bad server writes are refused one by one, the rest apply', async () => {
    const id = 'tcp:198.18.0.81:80';
    const svc = encodeURIComponent(id);
    const ops = [
      { method: 'POST', path: '/v1/services', body: { protocol: 'tcp', address: '198.18.0.81', port: 80, scheduler: 'rr' } },
      { method: 'POST', path: `/v1/services/${svc}/servers`, body: { address: '198.19.0.51', port: 8080, method: 'nat' } },
      { method: 'POST', path: `/v1/services/${svc}/servers`, body: { address: '198.19.0.52', port: 8080, method: 'nat', lowerThreshold: 5, upperThreshold: 2 } },
      { method: 'POST', path: `/v1/services/${svc}/servers`, body: { address: '0.0.0.0', port: 8080, method: 'nat' } },
      { method: 'POST', path: `/v1/services/${svc}/servers`, body: { address: '198.19.0.51', port: 9090, method: 'nat' } },
      { method: 'PATCH', path: `/v1/services/${svc}/servers/198.19.0.51:8080`, body: { upperThreshold: 3, lowerThreshold: 4 } },
      // dr moves 198.19.0.51:9090 to the service's port 80, where 198.19.0.51:8080 goes too: the second one collides
      { method: 'PATCH', path: `/v1/services/${svc}/servers/198.19.0.51:8080`, body: { method: 'dr' } },
      { method: 'PATCH', path: `/v1/services/${svc}/servers/198.19.0.51:9090`, body: { method: 'dr' } },
      { method: 'PUT', path: `/v1/services/${svc}/servers/198.19.0.51:9090`, body: { address: '198.19.0.51', port: 9090, method: 'nat', weight: 7 } },
    ];
    const r = await call(base, 'POST', '/v1/batch', { ops });
    assert.equal(r.status, 200, r.text);
    const results = r.json.results as Array<{ status: number; message?: string }>;
    assert.deepEqual(results.map((x) => x.status), [201, 201, 400, 400, 201, 400, 200, 400, 200], r.text);
    assert.match(results[2].message!, /realServers\[1\]\.lowerThreshold: must not exceed upperThreshold/);
    assert.match(results[3].message!, /realServers\[1\]\.address: must be a unicast address/);
    assert.match(results[5].message!, /lowerThreshold: must not exceed upperThreshold/);
    assert.match(results[7].message!, /already exists/);
    const s = (await call(base, 'GET', `/v1/services/${svc}`)).json;
    assert.deepEqual(s.realServers.map((x: { id: string; effectiveWeight: number }) => [x.id, x.effectiveWeight]),
      [['198.19.0.51:80', 1], ['198.19.0.51:9090', 7]]);
    assert.equal((await call(base, 'DELETE', `/v1/services/${svc}`)).status, 204);
  });

  test('a DR real server given another port is at the service\'s port, everywhere, as in the kernel', async () => {
    const id = 'tcp:198.18.0.80:80';
    assert.equal((await call(base, 'POST', '/v1/services', { protocol: 'tcp', address: '198.18.0.80', port: 80 })).status, 201);
    const r = await call(base, 'POST', `/v1/services/${id}/servers`, { address: '198.19.0.40', port: 9999, method: 'dr' });
    assert.equal(r.status, 201, r.text);
    assert.equal(r.json.id, '198.19.0.40:80');
    const s = (await call(base, 'GET', `/v1/services/${id}`)).json;
    assert.deepEqual(s.realServers.map((x: { id: string; port: number; inDataplane: boolean; effectiveWeight: number }) => [x.id, x.port, x.inDataplane, x.effectiveWeight]),
      [['198.19.0.40:80', 80, true, 1]]);
    const again = await call(base, 'POST', `/v1/services/${id}/servers`, { address: '198.19.0.40', port: 8888, method: 'tun' });
    assert.equal(again.status, 409, 'the same real server, as ipvsadm says');
    const saved = (await call(base, 'GET', '/v1/config?format=ipvsadm')).text;
    assert.match(saved, /-a -t 198\.18\.0\.80:80 -r 198\.19\.0\.40:80 -g -w 1/);
    assert.equal((await call(base, 'DELETE', `/v1/services/${id}`)).status, 204);
  });

  test('stats, zero, connections and the dataplane view', async () => {
    const st = await call(base, 'GET', '/v1/stats');
    assert.equal(st.status, 200);
    assert.ok('cps' in st.json.total.rates);
    assert.equal((await call(base, 'POST', '/v1/stats/zero')).status, 204);
    const c = await call(base, 'GET', '/v1/connections?service=tcp:198.18.0.100:80&limit=10');
    assert.equal(c.status, 200);
    assert.deepEqual(c.json.connections, []);
    assert.equal((await call(base, 'GET', '/v1/connections?service=bogus')).status, 400);
    const dp = await call(base, 'GET', '/v1/dataplane');
    assert.equal(dp.json.ports.length, 2);
    assert.equal(dp.json.workers.length, 1);
    assert.equal(dp.json.ports[0].driver, 'net_null');
    assert.ok(Array.isArray(dp.json.neighbours));
    assert.equal(dp.json.neighboursTruncated, false);
  });

  test('the OpenAPI document and the docs page are served', async () => {
    const doc = await call(base, 'GET', '/openapi.json');
    assert.equal(doc.status, 200);
    assert.ok(doc.json.openapi.startsWith('3'));
    for (const p of ['/v1/services', '/v1/services/{id}/servers/{server}', '/v1/stats', '/v1/connections', '/v1/timeouts', '/v1/config', '/v1/health', '/v1/dataplane'])
      assert.ok(doc.json.paths[p], `${p} documented`);
    const docs = await fetch(base + '/docs/');
    assert.equal(docs.status, 200);
  });

  test('metrics carry node_exporter\'s IPVS names and labels', async () => {
    const m = await call(base, 'GET', '/metrics');
    assert.equal(m.status, 200);
    assert.match(m.text, /^# TYPE node_ipvs_connections_total counter$/m);
    assert.match(m.text, /^node_ipvs_backend_weight\{[^}]*remote_address="198\.19\.0\.11"[^}]*\} 1$/m);
    assert.match(m.text, /^node_ipvs_backend_connections_active\{/m);
    assert.match(m.text, /^fulcrum_/m);
  });
});

describe('probes, version and the metrics token on a director with a token', { skip }, () => {
  const port = 19461;
  const base = `http://127.0.0.1:${port}`;
  const cfgFile = tmpFile('fulcrum.yaml');
  const dir = path.dirname(cfgFile);
  const serve = new Serve(cfgFile, path.join(dir, 'state'));
  const TOKEN = 'the-api-token-0123456789';
  const METRICS = 'the-metrics-token-0123456789';
  const as = (t: string) => ({ authorization: `Bearer ${t}` });
  before(async () => {
    fs.writeFileSync(path.join(dir, 'token'), `${TOKEN}\n`, { mode: 0o600 });
    fs.writeFileSync(path.join(dir, 'metrics-token'), `${METRICS}\n`, { mode: 0o644 });
    fs.writeFileSync(cfgFile, YAML.stringify(nullConfig(port, { api: { listen: `127.0.0.1:${port}`,
      tokenFile: path.join(dir, 'token'), metricsTokenFile: path.join(dir, 'metrics-token') } })));
    await serve.start();
  });
  after(() => serve.stop());

  test('/healthz and /readyz answer without a token once the services are applied', async () => {
    const h = await call(base, 'GET', '/healthz');
    assert.equal(h.status, 200);
    assert.deepEqual(h.json, { status: 'alive' });
    const r = await call(base, 'GET', '/readyz');
    assert.equal(r.status, 200);
    assert.deepEqual(r.json, { status: 'ready' });
  });

  test('/v1/version needs the token and says what fulcrum --version says', async () => {
    assert.equal((await call(base, 'GET', '/v1/version')).status, 401);
    const v = await call(base, 'GET', '/v1/version', undefined, as(TOKEN));
    assert.equal(v.status, 200);
    assert.equal(v.json.dataplaneRunning, true);
    const line = run(process.execPath, [path.join(root, 'bin/fulcrum.js'), '--version']).stdout;
    assert.equal(line, `fulcrum ${v.json.version} (git ${v.json.commit.slice(0, 12)}, DPDK ${v.json.dpdk})\n`);
    assert.equal(v.json.version, JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8')).version);
  });

  test('the metrics token opens GET /metrics and is refused everywhere else, writes included', async () => {
    const m = await call(base, 'GET', '/metrics', undefined, as(METRICS));
    assert.equal(m.status, 200);
    assert.match(m.text, /^node_ipvs_backend_weight\{/m);
    assert.equal((await call(base, 'GET', '/metrics', undefined, as(TOKEN))).status, 200, 'the API token still scrapes');
    assert.equal((await call(base, 'GET', '/metrics')).status, 401);
    assert.equal((await call(base, 'GET', '/metrics', undefined, as('a-wrong-token-0123456789'))).status, 401);
    for (const [method, p] of [['GET', '/v1/services'], ['GET', '/v1/version'], ['GET', '/v1/config'], ['GET', '/openapi.json']]) {
      const r = await call(base, method, p, undefined, as(METRICS));
      assert.equal(r.status, 403, `${method} ${p}`);
      assert.match(r.json.message, /the metrics token opens GET \/metrics only/);
    }
    const svc = { protocol: 'udp', address: '198.18.0.53', port: 53, scheduler: 'rr' };
    assert.equal((await call(base, 'POST', '/v1/services', svc, as(METRICS))).status, 403);
    assert.equal((await call(base, 'DELETE', '/v1/services/tcp:198.18.0.100:80', undefined, as(METRICS))).status, 403);
    assert.equal((await call(base, 'GET', '/v1/services/udp:198.18.0.53:53', undefined, as(TOKEN))).status, 404, 'the refused write changed nothing');
    assert.equal((await call(base, 'GET', '/v1/services/tcp:198.18.0.100:80', undefined, as(TOKEN))).status, 200);
  });

  test('the start-up log warns about the readable metrics token file, not the private one, and carries no deprecation', () => {
    assert.match(serve.out, /"msg":"the API metrics token file can be read by other users; chmod 600 it"/);
    assert.doesNotMatch(serve.out, /"msg":"the API token file can be read by other users/);
    assert.doesNotMatch(serve.out, /Deprecation|FSTDEP/);
  });
});

describe('persistence across kill -9', { skip }, () => {
  test('a director killed during a stream of changes restarts into the last acknowledged state', async () => {
    const port = 19392;
    const base = `http://127.0.0.1:${port}`;
    const cfgFile = tmpFile('fulcrum.yaml');
    fs.writeFileSync(cfgFile, YAML.stringify(nullConfig(port)));
    const serve = new Serve(cfgFile, path.dirname(cfgFile) + '/state');
    await serve.start();
    let acked = 1;
    let stop = false;
    const stream = (async () => {
      for (let w = 2; !stop; w++) {
        try {
          const r = await call(base, 'PATCH', '/v1/services/tcp:198.18.0.100:80/servers/198.19.0.11:8080', { weight: w });
          if (r.status === 200) acked = w;
        } catch {
          return;  // the director is gone
        }
      }
    })();
    await sleep(700 + Math.floor(Math.random() * 300));
    await serve.stop('SIGKILL');
    stop = true;
    await stream;
    assert.ok(acked > 5, `changes were acknowledged before the kill (${acked})`);
    await serve.start();
    try {
      const w = (await call(base, 'GET', '/v1/services/tcp:198.18.0.100:80/servers/198.19.0.11:8080')).json.weight;
      assert.ok(w === acked || w === acked + 1, `restored weight ${w}, last acknowledged ${acked}`);
      assert.match(serve.out, /restored from the state directory/);
    } finally {
      await serve.stop();
    }
  });
});

describe('auth on a non-loopback listener', { skip }, () => {
  const NS = 'fiau';
  test('without the bearer token requests are refused, with it they pass', async () => {
    run('ip', ['netns', 'add', NS]);
    const serveDir = path.dirname(tmpFile('x'));
    const tokenFile = path.join(serveDir, 'token');
    fs.writeFileSync(tokenFile, 'a-very-secret-token-0123456789\n');
    const cfgFile = path.join(serveDir, 'fulcrum.yaml');
    fs.writeFileSync(cfgFile, YAML.stringify(nullConfig(9390, { api: { listen: '10.99.0.1:9390', tokenFile } })));
    const serve = new Serve(cfgFile, path.join(serveDir, 'state'), ['ip', 'netns', 'exec', NS]);
    try {
      run('ip', ['-n', NS, 'link', 'add', 'fia0', 'type', 'veth', 'peer', 'name', 'fia1']);
      run('ip', ['-n', NS, 'addr', 'add', '10.99.0.1/24', 'dev', 'fia0']);
      run('ip', ['-n', NS, 'link', 'set', 'fia0', 'up']);
      run('ip', ['-n', NS, 'link', 'set', 'fia1', 'up']);
      run('ip', ['-n', NS, 'link', 'set', 'lo', 'up']);
      await serve.start();
      const curl = (...extra: string[]) => run('ip', ['netns', 'exec', NS, 'curl', '-s', '-o', '/dev/null', '-w', '%{http_code}', ...extra, 'http://10.99.0.1:9390/v1/services']).stdout;
      assert.equal(curl(), '401');
      assert.equal(curl('-H', 'Authorization: Bearer wrong-token-0123456789'), '401');
      assert.equal(curl('-H', 'Authorization: Bearer a-very-secret-token-0123456789'), '200');
      assert.equal(curl('-H', 'Authorization: bearer a-very-secret-token-0123456789'), '200', 'the scheme is case-insensitive (RFC 7235)');
      assert.equal(curl('-H', 'Authorization: BEARER a-very-secret-token-0123456789'), '200');
      assert.match(serve.out, /"msg":"the API token file can be read by other users; chmod 600 it"/);
    } finally {
      await serve.stop();
      run('ip', ['netns', 'del', NS]);
    }
  });

  test('a non-loopback listener without a token file is refused at start', () => {
    const f = tmpFile('fulcrum.yaml');
    fs.writeFileSync(f, YAML.stringify(nullConfig(9390, { api: { listen: '10.99.0.1:9390' } })));
    const r = run(process.execPath, [path.join(root, 'bin/fulcrum.js'), 'serve', '--config', f, '--state-dir', path.dirname(f)]);
    assert.equal(r.status, 1);
    assert.match(r.stderr, /api\.tokenFile: a non-loopback api\.listen needs a token file/);
  });
});
