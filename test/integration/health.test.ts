// Health checks end to end: the director (`fulcrum serve`) checks its real servers through
// the dataplane's kernel exception path; a real server process killed goes down within
// fall × interval, leaves the dataplane (or keeps its place with weight 0 under
// inhibitOnFailure), requests through the VIP keep succeeding on the others, and the server
// comes back after rise checks once it is restarted.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import YAML from 'yaml';
import { cannotRun, configFor, curlMany, root, run, tmpFile, Topology } from './harness';

const skip = cannotRun();
const VIP = '198.18.0.100';

describe('health checks on real servers', { skip }, () => {
  const t = new Topology('fih', 3);
  let serve: ChildProcess | undefined;
  let out = '';
  const api = (method: string, p: string, body?: unknown) => {
    const args = ['curl', '-sS', '-m', '5', '-X', method, `http://127.0.0.1:9390${p}`];
    if (body !== undefined) args.push('-H', 'content-type: application/json', '-d', JSON.stringify(body));
    const r = t.exec('dir', args);
    return JSON.parse(r.stdout || 'null');
  };
  const serverState = (addr: string) => api('GET', '/v1/health').servers.find((s: { address: string }) => s.address === addr)?.state;
  const inDataplane = () => api('GET', '/v1/services/tcp:198.18.0.100:80').realServers
    .map((r: { address: string; inDataplane: boolean; effectiveWeight: number }) => [r.address, r.inDataplane, r.effectiveWeight]);
  async function until(what: string, ok: () => boolean, ms: number) {
    const t0 = Date.now();
    while (Date.now() - t0 < ms) {
      if (ok()) return Date.now() - t0;
      await sleep(100);
    }
    throw new Error(`${what} did not happen within ${ms} ms`);
  }
  const startServer = (i: number) => t.background(`srv${i}`, ['node', '-e',
    `require('http').createServer((q, r) => r.end('srv${i}\\n')).listen(8080, '0.0.0.0')`]);
  // Only the processes in that server's namespace: its HTTP server.
  const killServer = (i: number) => {
    for (const pid of run('ip', ['netns', 'pids', t.ns(`srv${i}`)]).stdout.split('\n').filter(Boolean)) process.kill(Number(pid), 'SIGKILL');
  };

  before(async () => {
    t.up();
    // srv1 also holds 198.19.64.11: a real server on a network behind a gateway (srv1), which
    // the dataplane reaches by a static route
    t.exec('srv1', ['ip', 'addr', 'add', '198.19.64.11/32', 'dev', 'lo']);
    const check = { type: 'tcp' as const, interval: 0.3, timeout: 0.5, fall: 2, rise: 2, delayBeforeRetry: 0.3 };
    const cfg = configFor(t, {
      services: [{ protocol: 'tcp', address: VIP, port: 80, scheduler: 'rr', healthChecks: [check],
        realServers: [1, 2, 3].map((i) => ({ address: `198.19.0.1${i}`, port: 8080, method: 'nat' as const, weight: 1 })) },
      { protocol: 'tcp', address: '198.18.0.101', port: 80, scheduler: 'rr', healthChecks: [check],
        realServers: [{ address: '198.19.64.11', port: 8080, method: 'nat' as const, weight: 1 }] }],
    });
    cfg.dataplane.routes = [{ prefix: '198.19.64.0/24', via: '198.19.0.11' }, { prefix: '0.0.0.0/0', via: '198.19.0.13' }];
    (cfg as Record<string, unknown>).api = { listen: '127.0.0.1:9390' };
    const file = tmpFile('fulcrum.yaml');
    fs.writeFileSync(file, YAML.stringify(cfg));
    serve = spawn('ip', ['netns', 'exec', t.ns('dir'), process.execPath, path.join(root, 'bin/fulcrum.js'), 'serve',
      '--config', file, '--state-dir', path.dirname(file) + '/state']);
    serve.stdout!.on('data', (d: Buffer) => { out += d; });
    serve.stderr!.on('data', (d: Buffer) => { out += d; });
    await until('serve ready', () => /services applied; ready/.test(out), 20000);
  });
  after(async () => {
    if (serve && serve.exitCode === null) {
      const exited = new Promise((r) => serve!.once('exit', r));
      serve.kill('SIGTERM');
      await exited;
    }
    t.down();
  });

  test('all real servers are checked up and serve', async () => {
    await until('all up', () => [1, 2, 3].every((i) => serverState(`198.19.0.1${i}`) === 'up'), 5000);
    assert.deepEqual(new Set(curlMany(t, `http://${VIP}`, 9)), new Set(['srv1', 'srv2', 'srv3']));
  });

  test('a real server behind a gateway is checked through the director\'s port: its static route is given to the kernel through the TAP, a default route is not', async () => {
    const routes = t.exec('dir', ['ip', 'route', 'show']).stdout;
    assert.match(routes, /^198\.19\.64\.0\/24 via 198\.19\.0\.11 dev fih-ks/m);
    assert.doesNotMatch(routes, /^default/m, 'the host\'s own default route is not the dataplane\'s');
    await until('the routed real server up', () => serverState('198.19.64.11') === 'up', 5000);
    assert.deepEqual(curlMany(t, 'http://198.18.0.101', 2), ['srv1', 'srv1']);
  });

  test('a killed real server goes down within fall x interval and gets no more requests', async () => {
    killServer(2);
    // fall (2) x interval (0.3 s), plus a connect timeout and scheduling slack.
    const took = await until('srv2 down', () => serverState('198.19.0.12') === 'down', 4000);
    assert.ok(took < 4000);
    assert.deepEqual(inDataplane().find((r: [string]) => r[0] === '198.19.0.12'), ['198.19.0.12', false, 0]);
    const a = curlMany(t, `http://${VIP}`, 20);
    assert.equal(a.length, 20, 'every request through the VIP still succeeds');
    assert.ok(!a.includes('srv2'));
    await until('the state change is logged', () => /"address":"198\.19\.0\.12"/.test(out), 2000);
  });

  test('restarted, it comes back after rise checks', async () => {
    startServer(2);
    await until('srv2 up', () => serverState('198.19.0.12') === 'up', 5000);
    await until('srv2 in the dataplane', () => inDataplane().some((r: [string, boolean]) => r[0] === '198.19.0.12' && r[1]), 3000);
    assert.ok(curlMany(t, `http://${VIP}`, 9).includes('srv2'));
  });

  test('with inhibitOnFailure a failed server keeps its place with weight 0', async () => {
    const r = api('PATCH', '/v1/services/tcp:198.18.0.100:80', { inhibitOnFailure: true });
    assert.equal(r.inhibitOnFailure, true);
    killServer(3);
    await until('srv3 down', () => serverState('198.19.0.13') === 'down', 4000);
    assert.deepEqual(inDataplane().find((x: [string]) => x[0] === '198.19.0.13'), ['198.19.0.13', true, 0]);
    const a = curlMany(t, `http://${VIP}`, 12);
    assert.equal(a.length, 12);
    assert.ok(!a.includes('srv3'));
    startServer(3);
    await until('srv3 up', () => serverState('198.19.0.13') === 'up', 5000);
  });
});
