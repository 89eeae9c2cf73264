// Prometheus for real: Debian's prometheus scrapes a director that carries traffic, with the
// metrics-only token, and PromQL over node_ipvs_* and fulcrum_* gives what the traffic was —
// as dashboards and alerts written for a kernel director (node_exporter's IPVS collector) ask.
// The director runs as `fulcrum serve` in the topology's director namespace; Prometheus runs
// there too, on loopback, so nothing leaves the namespaces this test builds.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import YAML from 'yaml';
import { cannotRun, configFor, root, run, tmpFile, Topology } from './harness';

const skip = cannotRun() ?? (run('which', ['prometheus']).status !== 0 ? 'prometheus is not installed (scripts/setup)' : undefined);
const API = 19581;
const PROM = 19582;
const VIP = '198.18.0.100';

const t = new Topology('fip', 3);
let serve: ChildProcess | undefined;
let prom: ChildProcess | undefined;
let out = '';
let serveConfig: string | undefined;

/** A PromQL instant query, asked from inside the director's namespace. */
function query(q: string): Array<{ metric: Record<string, string>; value: [number, string] }> {
  const r = t.exec('dir', ['curl', '-sS', '-G', `http://127.0.0.1:${PROM}/api/v1/query`, '--data-urlencode', `query=${q}`]);
  const body = JSON.parse(r.stdout) as { status: string; data: { result: Array<{ metric: Record<string, string>; value: [number, string] }> } };
  assert.equal(body.status, 'success', r.stdout);
  return body.data.result;
}
const one = (q: string) => {
  const r = query(q);
  assert.equal(r.length, 1, `${q}: ${JSON.stringify(r)}`);
  return Number(r[0].value[1]);
};

async function waitFor(what: string, ok: () => boolean, ms = 30_000): Promise<void> {
  for (let waited = 0; waited < ms; waited += 250) {
    if (ok()) return;
    await sleep(250);
  }
  throw new Error(`${what} did not happen in ${ms} ms\n${out.slice(-3000)}`);
}

before(async () => {
  if (skip) return;
  t.up();
  const dir = path.dirname(tmpFile('x'));
  const token = path.join(dir, 'token');
  const metricsToken = path.join(dir, 'metrics-token');
  fs.writeFileSync(token, 'read-write-secret-0123456789\n', { mode: 0o600 });
  fs.writeFileSync(metricsToken, 'scrape-only-secret-9876543210\n', { mode: 0o600 });
  const cfg = configFor(t, {
    services: [{ protocol: 'tcp', address: VIP, port: 80, scheduler: 'wrr',
      realServers: [1, 2, 3].map((i) => ({ address: `198.19.0.${10 + i}`, port: 8080, method: 'nat' as const, weight: 4 - i })) }],
    api: { listen: `127.0.0.1:${API}`, tokenFile: token, metricsTokenFile: metricsToken },
  });
  const cfgFile = path.join(dir, 'fulcrum.yaml');
  serveConfig = cfgFile;
  fs.writeFileSync(cfgFile, YAML.stringify(cfg));
  t.exec('dir', ['ip', 'link', 'set', 'lo', 'up']);
  serve = spawn('ip', ['netns', 'exec', t.ns('dir'), process.execPath, path.join(root, 'bin/fulcrum.js'), 'serve', '--config', cfgFile, '--state-dir', path.join(dir, 'state')]);
  serve.stdout!.on('data', (d: Buffer) => { out += d; });
  serve.stderr!.on('data', (d: Buffer) => { out += d; });
  await waitFor('the director', () => /services applied; ready/.test(out));

  const promCfg = path.join(dir, 'prometheus.yml');
  fs.writeFileSync(promCfg, YAML.stringify({
    global: { scrape_interval: '1s', evaluation_interval: '1s' },
    scrape_configs: [{ job_name: 'fulcrum', static_configs: [{ targets: [`127.0.0.1:${API}`] }],
      authorization: { type: 'Bearer', credentials_file: metricsToken } }],
  }));
  prom = spawn('ip', ['netns', 'exec', t.ns('dir'), 'prometheus', `--config.file=${promCfg}`, `--storage.tsdb.path=${path.join(dir, 'tsdb')}`,
    `--web.listen-address=127.0.0.1:${PROM}`, '--log.level=warn']);
  prom.stderr!.on('data', (d: Buffer) => { out += d; });
  await waitFor('the first scrape', () => {
    try { return query('up{job="fulcrum"}').some((r) => r.value[1] === '1'); } catch { return false; }
  });
});

after(async () => {
  for (const c of [prom, serve]) {
    if (!c || c.exitCode !== null) continue;
    const exited = new Promise((r) => c.once('exit', r));
    c.kill('SIGTERM');
    await Promise.race([exited, sleep(10_000)]);
  }
  if (!skip) t.down();
});

test('Prometheus scrapes with the metrics token, and PromQL gives the traffic\'s rates by node_exporter\'s names', { skip, timeout: 120_000 }, async () => {
  // 20 requests a second, each on a new connection, for 12 s (4 scrapes a rate window of 4 s)
  const start = Date.now();
  let sent = 0;
  while (Date.now() - start < 12_000) {
    const r = t.exec('client', ['curl', '-sS', '-m', '2', '-H', 'Connection: close', `http://${VIP}/[1-10]`]);
    sent += r.stdout.split('\n').filter(Boolean).length;
    const lag = (sent / 20) * 1000 - (Date.now() - start);
    if (lag > 0) await sleep(lag);
  }
  const seconds = (Date.now() - start) / 1000;
  await sleep(2500);  // the last second scraped
  assert.ok(sent > 150, `only ${sent} requests answered`);

  assert.equal(one('up{job="fulcrum"}'), 1, 'the metrics token scrapes');
  // connections: the global counter and the per-backend series sum to the requests sent
  const total = one('max_over_time(node_ipvs_connections_total[1m])');
  assert.ok(total >= sent && total <= sent + 10, `${total} connections for ${sent} answered requests`);
  const cps = one('max_over_time(rate(node_ipvs_connections_total[4s])[30s:1s])');
  const expected = sent / seconds;
  assert.ok(cps > expected * 0.6 && cps < expected * 1.6, `connection rate ${cps}/s, sent ${expected.toFixed(1)}/s`);
  assert.ok(one('max_over_time(rate(node_ipvs_incoming_packets_total[4s])[30s:1s])') > cps * 3, 'several packets a connection');
  assert.ok(one('max_over_time(rate(node_ipvs_outgoing_bytes_total[4s])[30s:1s])') > 0);
  // per backend: wrr 3/2/1 as weights, labels as node_exporter's
  const weights = Object.fromEntries(query('node_ipvs_backend_weight{local_address="198.18.0.100",local_port="80",proto="TCP"}')
    .map((r) => [r.metric.remote_address, Number(r.value[1])]));
  assert.deepEqual(weights, { '198.19.0.11': 3, '198.19.0.12': 2, '198.19.0.13': 1 });
  // Fulcrum's own: the workers forwarded, the table holds the connections, nothing dropped for no service
  assert.ok(one('sum(max_over_time(rate(fulcrum_worker_rx_packets_total[4s])[30s:1s]))') > cps * 3);
  assert.ok(one('sum(fulcrum_worker_connection_capacity)') >= 65536);
  assert.equal(query('fulcrum_drops_total{reason="no_service"} > 0').length, 0);
  assert.ok(one('nodejs_eventloop_lag_max_seconds') < 5, 'the process families are there');
});

test('the Grafana dashboard in contrib/ asks valid PromQL, only of families the director exports', { skip }, () => {
  const dash = JSON.parse(fs.readFileSync(path.join(root, 'contrib/grafana-fulcrum.json'), 'utf8')) as
    { panels: Array<{ title: string; targets?: Array<{ expr: string }> }> };
  // every family the director declares, samples or not (drops and health appear when they happen)
  const token = fs.readFileSync(path.join(path.dirname(String(serveConfig)), 'metrics-token'), 'utf8').trim();
  const exposition = t.exec('dir', ['curl', '-sS', '-H', `Authorization: Bearer ${token}`, `http://127.0.0.1:${API}/metrics`]).stdout;
  const families = new Set([...exposition.matchAll(/^# TYPE (\S+) /gm)].map((m) => m[1]));
  let exprs = 0;
  for (const p of dash.panels) {
    for (const target of p.targets ?? []) {
      exprs++;
      const expr = target.expr.replace(/\$__rate_interval/g, '10s').replace(/\$\w+/g, '.*');
      const r = t.exec('dir', ['curl', '-sS', '-G', `http://127.0.0.1:${PROM}/api/v1/query`, '--data-urlencode', `query=${expr}`]);
      const body = JSON.parse(r.stdout) as { status: string; error?: string };
      assert.equal(body.status, 'success', `${p.title}: ${target.expr}: ${body.error}`);
      for (const name of target.expr.match(/\b(node_ipvs|fulcrum|nodejs|process)_\w+/g) ?? [])
        assert.ok(families.has(name), `${p.title}: ${name} is not a family the director exports`);
    }
  }
  assert.ok(exprs >= 20);
});
