// fvsadm against a running director, byte for byte with ipvsadm 1.31: the golden scenarios
// (test/golden/ipvsadm/, captured from the real ipvsadm by scripts/capture-ipvsadm-golden) are
// replayed step by step through `fulcrum serve` on net_null ports — the real API and the real
// dataplane — and every step must print what ipvsadm printed, on the same stream, with the
// same exit status. Steps the oracle could fake but a director cannot (a forced kernel errno,
// counters or connections injected) end the replay of their scenario, and --nosort listings
// are skipped; those are checked against the recorded tables in
// test/unit/fvsadm_golden.test.ts.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import YAML from 'yaml';
import { HttpApi } from '../../src/client/http';
import { runFvsadm } from '../../src/ipvsadm/run';
import { parseServicesFile } from '../../src/ipvsadm/addr';
import { cannotRun, root, tmpFile } from './harness';
import { fwmarkPortsNumeric } from '../unit/oracle_vs_kernel';

const skip = cannotRun();
const dir = path.join(root, 'test/golden/ipvsadm');
const port = 19395;

interface Step { argv: string[]; stdin?: string; errno?: number; statsSet?: boolean; state?: { timeouts: { tcp: number; tcpfin: number; udp: number } }; stdout: string; stderr: string; exit: number }
interface Fixture { name: string; hosts?: string; conns?: string; steps: Step[] }

function hostsResolver(text: string) {
  const lines = text.split('\n').map((l) => l.replace(/#.*/, '').trim().split(/\s+/)).filter((w) => w.length >= 2);
  return {
    lookupHost: async (name: string) => lines.find(([, ...names]) => names.some((n) => n.toLowerCase() === name.toLowerCase()))?.[0],
    reverseHost: async (address: string) => lines.find(([a]) => a === address)?.[1],
  };
}

let serve: ChildProcess | undefined;
let out = '';
before(async () => {
  if (skip) return;
  const cfg = {
    dataplane: { eal: ['--log-level=error'], workers: [1], connTableSize: 4096, maxServices: 64, maxRealServers: 512,
      idleBackoff: { pauseAfterPolls: 64, maxSleepMicroseconds: 200 },
      ports: [{ name: 'outside', device: 'net_null950', address: '10.0.0.254/24', tap: false },
        { name: 'inside', device: 'net_null951', address: '192.168.0.254/16', tap: false }] },
    api: { listen: `127.0.0.1:${port}` },
  };
  const f = tmpFile('fulcrum.yaml');
  fs.writeFileSync(f, YAML.stringify(cfg));
  serve = spawn(process.execPath, [path.join(root, 'bin/fulcrum.js'), 'serve', '--config', f, '--state-dir', path.dirname(f) + '/state']);
  serve.stdout!.on('data', (d: Buffer) => { out += d; });
  serve.stderr!.on('data', (d: Buffer) => { out += d; });
  for (let i = 0; i < 200 && !/services applied; ready/.test(out); i++) await sleep(100);
  assert.match(out, /services applied; ready/);
});
after(async () => {
  if (serve && serve.exitCode === null) {
    const exited = new Promise((r) => serve!.once('exit', r));
    serve.kill('SIGTERM');
    await exited;
  }
});

const services = parseServicesFile(fs.readFileSync(path.join(dir, 'services'), 'utf8'));
const fixtures: Fixture[] = fs.readdirSync(dir).filter((f) => f.endsWith('.json')).sort()
  .map((f) => JSON.parse(fs.readFileSync(path.join(dir, f), 'utf8')));

for (const fx of fixtures.filter((f) => !f.conns)) {
  test(`live: ${fx.name}`, { skip }, async () => {
    const api = new HttpApi(`http://127.0.0.1:${port}`);
    // Every scenario starts from an empty table and the timeouts its first step saw.
    assert.equal((await api.request('DELETE', '/v1/services')).status, 204);
    assert.equal((await api.request('PUT', '/v1/timeouts', fx.steps[0].state!.timeouts)).status, 200);
    const names = hostsResolver(fx.hosts ?? '127.0.0.1 localhost\n');
    const failures: string[] = [];
    let replayed = 0;
    for (const [i, step] of fx.steps.entries()) {
      if (step.errno || step.statsSet) break;
      // Unsorted listings show the kernel's hash-table order, which the oracle's table only
      // imitates; the director lists in the order services were made.
      if (step.argv.includes('--nosort')) continue;
      let stdout = '', stderr = '';
      const exit = await runFvsadm(step.argv, {
        program: 'ipvsadm', api, readStdin: async () => step.stdin ?? '', services, ...names,
        out: (s) => { stdout += s; }, err: (s) => { stderr += s; },
      });
      replayed++;
      const label = `step ${i + 1}: ipvsadm ${step.argv.join(' ')}`;
      for (const [what, want, got] of [['stdout', fwmarkPortsNumeric(step.stdout, services), stdout], ['stderr', step.stderr, stderr], ['exit', step.exit, exit]] as const)
        if (want !== got) failures.push(`${label}: ${what}\n  want ${JSON.stringify(want)}\n  got  ${JSON.stringify(got)}`);
    }
    assert.ok(replayed > 0);
    assert.equal(failures.length, 0, `${failures.length} of ${replayed} steps differ from ipvsadm:\n${failures.join('\n')}`);
  });
}

test('live: fvsadm -R applies its writes as one change, each line answered as ipvsadm answers it', { skip }, async () => {
  const base = `http://127.0.0.1:${port}`;
  const api = new HttpApi(base);
  assert.equal((await api.request('DELETE', '/v1/services')).status, 204);
  const generation = async () => Number((await fetch(`${base}/v1/config`)).headers.get('x-fulcrum-generation'));
  const run = async (stdin: string) => {
    let stdout = '', stderr = '';
    const exit = await runFvsadm(['-R'], { program: 'fvsadm', api, readStdin: async () => stdin, services,
      lookupHost: async () => undefined, reverseHost: async () => undefined,
      out: (x) => { stdout += x; }, err: (x) => { stderr += x; } });
    return { stdout, stderr, exit };
  };
  const g0 = await generation();
  const r = await run('-A -t 10.1.0.1:80 -s rr\n-a -t 10.1.0.1:80 -r 192.168.5.1:80 -m -w 2\n-A -t 10.1.0.1:80\n' +
    '-a -t 10.1.0.2:80 -r 192.168.5.2:80 -m\n-A -u 10.1.0.1:53 -s wrr\n--set 0 60 0\n');
  // ipvsadm -R carries on past kernel errors and exits with the last line's status.
  assert.equal(r.stderr, 'Service already exists\nService not defined\n');
  assert.equal(r.exit, 0);
  assert.equal(await generation(), g0 + 1, 'one change for the whole restore');
  const ids = ((await api.request('GET', '/v1/services')).body as Array<{ id: string }>).map((s) => s.id);
  assert.deepEqual(ids, ['tcp:10.1.0.1:80', 'udp:10.1.0.1:53']);
  assert.equal(((await api.request('GET', '/v1/timeouts')).body as { tcpfin: number }).tcpfin, 60);
  // A line that does not parse: nothing is sent.
  const g1 = await generation();
  const bad = await run('-A -t 10.1.0.3:80\n-A -t 10.1.0.4:80 -w 3\n');
  assert.equal(bad.exit, 2);
  assert.match(bad.stderr, /Illegal 'weight' option with the 'add-service' command/);
  assert.equal(await generation(), g1);
  assert.equal(((await api.request('GET', '/v1/services')).body as unknown[]).length, 2);
  // The director answers -R itself (POST /v1/restore) unless the input needs the client: a
  // port or host name (this machine's /etc/services and resolver), or the table between lines.
  const direct = await fetch(`${base}/v1/restore?program=fvsadm`, { method: 'POST', headers: { 'content-type': 'text/plain' },
    body: '-A -t 10.1.0.5:80 -s wlc\n-A -t 10.1.0.5:80\n' });
  assert.deepEqual(await direct.json(), { exit: 255, outputs: [{ line: 2, stderr: 'Service already exists\n' }] });
  for (const body of ['-A -t 10.1.0.6:http\n', '-A -t 10.1.0.6:80\n-L -n\n']) {
    const r2 = await fetch(`${base}/v1/restore`, { method: 'POST', headers: { 'content-type': 'text/plain' }, body });
    assert.ok(((await r2.json()) as { fallback?: string }).fallback, body);
  }
  const named = await run('-A -t 10.1.0.6:http -s rr\n-A -t 10.1.0.7:80\n-L -n -t 10.1.0.7:80\n-h\n');
  assert.equal(named.exit, 0);
  assert.match(named.stdout, /TCP {2}10\.1\.0\.7:80 wlc/);
  assert.match(named.stdout, /Usage:/);
  const ids2 = ((await api.request('GET', '/v1/services')).body as Array<{ id: string }>).map((s) => s.id);
  assert.ok(ids2.includes('tcp:10.1.0.6:80') && ids2.includes('tcp:10.1.0.7:80'), ids2.join());
});

test('live: GET /v1/config?format=ipvsadm is what fvsadm -S -n prints, and PUT reads it back', { skip }, async () => {
  const base = `http://127.0.0.1:${port}`;
  const api = new HttpApi(base);
  assert.equal((await api.request('DELETE', '/v1/services')).status, 204);
  let stdout = '', stderr = '';
  const fv = (argv: string[], stdin = '') => runFvsadm(argv, { program: 'fvsadm', api, readStdin: async () => stdin, services,
    lookupHost: async () => undefined, reverseHost: async () => undefined,
    out: (x) => { stdout += x; }, err: (x) => { stderr += x; } });
  // made out of order, so the listing's sort shows
  assert.equal(await fv(['-R'], '-A -u 10.2.0.1:53 -s rr\n-a -u 10.2.0.1:53 -r 192.168.6.2:53 -m -w 2\n' +
    '-A -t 10.2.0.1:80 -s wrr -p 60\n-a -t 10.2.0.1:80 -r 192.168.6.9:8080 -m -w 3\n-a -t 10.2.0.1:80 -r 192.168.6.1:8080 -m\n'), 0, stderr);
  stdout = '';
  assert.equal(await fv(['-S', '-n']), 0, stderr);
  const saved = await (await fetch(`${base}/v1/config?format=ipvsadm`)).text();
  assert.equal(saved, stdout);
  assert.match(saved, /^-A -t 10\.2\.0\.1:80 -s wrr -p 60\n-a -t 10\.2\.0\.1:80 -r 192\.168\.6\.1:8080 -m -w 1\n/);
  const put = await fetch(`${base}/v1/config`, { method: 'PUT', headers: { 'content-type': 'text/plain' }, body: saved });
  assert.equal(put.status, 200, await put.text());
  assert.equal(await (await fetch(`${base}/v1/config?format=ipvsadm`)).text(), saved);
  const bad = await fetch(`${base}/v1/config`, { method: 'PUT', headers: { 'content-type': 'text/plain' }, body: saved + '-a -t 10.2.0.1:80 -r 192.168.6.1:8080 -m\n' });
  assert.equal(bad.status, 400);
  assert.equal(((await bad.json()) as { message: string }).message, 'line 6: Destination already exists');
});

test('live: fulcrum health, connections and dataplane show what ipvsadm cannot', { skip }, async () => {
  const { spawnSync } = await import('node:child_process');
  const view = (...a: string[]) => spawnSync(process.execPath, [path.join(root, 'bin/fulcrum.js'), ...a],
    { encoding: 'utf8', env: { ...process.env, FULCRUM_API: `http://127.0.0.1:${port}` } });
  const d = view('dataplane');
  assert.equal(d.status, 0, d.stderr);
  assert.match(d.stdout, /^WORKER +LCORE +CPU/m);
  assert.match(d.stdout, /^outside +net_null/m);
  const h = view('health');
  assert.equal(h.status, 0, h.stderr);
  assert.match(h.stdout, /^SERVICE +REAL SERVER +STATE/m);
  const c = view('connections');
  assert.equal(c.status, 0, c.stderr);
  assert.match(c.stdout, /LOCAL \(FullNAT\)/);
  const down = spawnSync(process.execPath, [path.join(root, 'bin/fulcrum.js'), 'health'],
    { encoding: 'utf8', env: { ...process.env, FULCRUM_API: 'http://127.0.0.1:1' } });
  assert.equal(down.status, 2);
  assert.match(down.stderr, /cannot reach the Fulcrum director at http:\/\/127\.0\.0\.1:1/);
});
