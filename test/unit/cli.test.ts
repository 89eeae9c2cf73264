// The two commands as a user runs them: help, version, and usage errors with their exit codes.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const root = path.resolve(__dirname, '../../..');
const run = (bin: string, args: string[]) =>
  spawnSync(process.execPath, [path.join(root, 'bin', bin), ...args], { encoding: 'utf8' });

/** A fresh directory for one test's files, removed when the test ends. */
function tempDir(t: TestContext): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fulcrum-cli-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

test('fulcrum --help prints the usage and exits 0', () => {
  const r = run('fulcrum.js', ['--help']);
  assert.equal(r.status, 0);
  assert.match(r.stdout, /^Usage: fulcrum <command>/);
  assert.match(r.stdout, /bench core/);
});

test('fulcrum with an unknown command exits 2 naming it', () => {
  const r = run('fulcrum.js', ['frobnicate']);
  assert.equal(r.status, 2);
  assert.match(r.stderr, /unknown command 'frobnicate'/);
});

test('fulcrum demo --core rejects a bad --connections value', () => {
  const r = run('fulcrum.js', ['demo', '--core', '--connections', 'many']);
  assert.equal(r.status, 2);
  assert.match(r.stderr, /--connections needs a positive integer/);
});

test('fulcrum demo --core prints the answer counts and an ipvsadm --stats table', () => {
  const r = run('fulcrum.js', ['demo', '--core', '--connections', '60']);
  assert.equal(r.status, 0);
  assert.match(r.stdout, /192\.168\.10\.11 +weight 3 +30 \(50\.0%\)/);
  assert.match(r.stdout, /Prot LocalAddress:Port {15}Conns {3}InPkts/);
  assert.match(r.stdout, /TCP  10\.0\.0\.100:80 {22}60/);
});

test('fvsadm -v prints ipvsadm 1.31\'s version line', () => {
  const r = run('fvsadm.js', ['-v']);
  assert.equal(r.status, 0);
  assert.equal(r.stdout, 'ipvsadm v1.31 2019/12/24 (compiled with popt and IPVS v1.2.1)\n');
});

// fvsadm starts for every command, so it does no work before the request that the request
// does not need: no name resolver, no /etc/services with -n, nothing of the server's
// (typebox, fastify, pino). A probe loaded first records what the process loads and reads.
test('fvsadm -Ln loads no resolver and reads no /etc/services; -L without -n does both', async () => {
  const http = await import('node:http');
  const fs = await import('node:fs');
  const os = await import('node:os');
  const { spawn } = await import('node:child_process');
  const server = http.createServer((req, res) => {
    res.writeHead(200, { 'content-type': 'application/json' })
      .end(JSON.stringify([{ id: 'tcp:127.0.0.1:80', protocol: 'tcp', address: '127.0.0.1', port: 80, scheduler: 'rr', realServers: [] }]));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fvsadm-probe-'));
  const probe = path.join(dir, 'probe.js');
  fs.writeFileSync(probe, `
    const Module = require('module'), fs = require('fs');
    const seen = new Set();
    const load = Module._load;
    Module._load = function (id) { seen.add(id); return load.apply(this, arguments); };
    const read = fs.readFileSync;
    fs.readFileSync = function (f) { if (f === '/etc/services') seen.add('/etc/services'); return read.apply(this, arguments); };
    process.on('exit', () => process.stderr.write('PROBE ' + JSON.stringify([...seen]) + '\\n'));
  `);
  const fvsadm = (args: string[]) => new Promise<{ status: number | null; stdout: string; loaded: string[] }>((resolve) => {
    const c = spawn(process.execPath, ['-r', probe, path.join(root, 'bin', 'fvsadm.js'), ...args],
      { env: { ...process.env, FULCRUM_API: `http://127.0.0.1:${(server.address() as import('node:net').AddressInfo).port}` } });
    let stdout = '', stderr = '';
    c.stdout.on('data', (d) => { stdout += d; });
    c.stderr.on('data', (d) => { stderr += d; });
    c.on('close', (status) => resolve({ status, stdout, loaded: JSON.parse(/PROBE (.*)/.exec(stderr)![1]) }));
  });
  try {
    const numeric = await fvsadm(['-Ln']);
    assert.equal(numeric.status, 0);
    assert.match(numeric.stdout, /TCP  127\.0\.0\.1:80 rr/);
    for (const m of ['node:dns', 'dns', '/etc/services', '@sinclair/typebox', 'fastify', 'pino'])
      assert.ok(!numeric.loaded.includes(m), `-Ln loaded ${m}: ${numeric.loaded.join(' ')}`);
    const named = await fvsadm(['-L']);
    assert.equal(named.status, 0);
    assert.match(named.stdout, /TCP  localhost:http rr/);
    assert.ok(named.loaded.includes('node:dns') && named.loaded.includes('/etc/services'), named.loaded.join(' '));
  } finally {
    server.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('fulcrum check --config: a valid file is one line and exit 0, starting nothing', () => {
  const r = run('fulcrum.js', ['check', '--config', path.join(root, 'examples/null.yaml')]);
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stdout, `${path.join(root, 'examples/null.yaml')}: ok (1 service, 2 real servers)\n`);
  assert.equal(r.stderr, '');
});

test('fulcrum check --config: every problem by its path, exit 1; the token file is checked as serve checks it', (ctx) => {
  const dir = tempDir(ctx);
  const bad = path.join(dir, 'bad.yaml');
  fs.writeFileSync(bad, 'dataplane:\n  ports: [{ name: p0, device: net_null0 }]\nservices:\n' +
    '  - { protocol: tcp, address: 10.0.0.1, port: 0 }\n  - { protocol: tcp, address: 10.0.0.2, port: 80, scheduler: wrr, schedFlags: [sh-port] }\n');
  const r = run('fulcrum.js', ['check', '--config', bad]);
  assert.equal(r.status, 1);
  assert.equal(r.stdout, '');
  assert.deepEqual(r.stderr.trim().split('\n'), [
    `${bad}: services[0].port: zero port specified for non-persistent service`,
    `${bad}: services[1].schedFlags: incompatible scheduler flag 'sh-port' for scheduler wrr`,
  ]);
  const token = path.join(dir, 'token');
  fs.writeFileSync(token, 'short\n');
  const withToken = path.join(dir, 'token.yaml');
  fs.writeFileSync(withToken, `dataplane:\n  ports: [{ name: p0, device: net_null0 }]\napi: { listen: '10.0.0.1:9390', tokenFile: ${token} }\n`);
  const t = run('fulcrum.js', ['check', '--config', withToken]);
  assert.equal(t.status, 1);
  assert.equal(t.stderr, `${withToken}: api.tokenFile: the token must be at least 16 characters\n`);
  const missing = run('fulcrum.js', ['check', '--config', path.join(dir, 'none.yaml')]);
  assert.equal(missing.status, 1);
  assert.match(missing.stderr, /none\.yaml: cannot read .*ENOENT/);
  // without --config: the file the package installs
  const dflt = run('fulcrum.js', ['check']);
  if (!fs.existsSync('/etc/fulcrum/fulcrum.yaml')) {
    assert.equal(dflt.status, 1);
    assert.match(dflt.stderr, /^\/etc\/fulcrum\/fulcrum\.yaml: cannot read .*ENOENT/);
  }
  assert.equal(run('fulcrum.js', ['check', '--config']).status, 2, '--config without its value is a usage error');
});

test('fulcrum check --config: the metrics token file is checked as the token file is, and needs it', (t) => {
  const dir = tempDir(t);
  const token = path.join(dir, 'token');
  fs.writeFileSync(token, 'the-api-token-0123456789\n');
  const metrics = path.join(dir, 'metrics-token');
  const cfg = path.join(dir, 'fulcrum.yaml');
  const check = (api: string) => {
    fs.writeFileSync(cfg, `dataplane:\n  ports: [{ name: p0, device: net_null0 }]\napi: { ${api} }\n`);
    return run('fulcrum.js', ['check', '--config', cfg]);
  };
  fs.writeFileSync(metrics, 'the-metrics-token-0123456789\n');
  const good = check(`tokenFile: ${token}, metricsTokenFile: ${metrics}`);
  assert.equal(good.status, 0, good.stderr);
  fs.writeFileSync(metrics, 'short\n');
  assert.equal(check(`tokenFile: ${token}, metricsTokenFile: ${metrics}`).stderr,
    `${cfg}: api.metricsTokenFile: the token must be at least 16 characters\n`);
  // both files' problems at once, each by its key
  assert.equal(check(`tokenFile: ${dir}/none, metricsTokenFile: ${dir}/gone`).stderr,
    `${cfg}: api.tokenFile: cannot read ${dir}/none: ENOENT\n${cfg}: api.metricsTokenFile: cannot read ${dir}/gone: ENOENT\n`);
  const same = check(`tokenFile: ${token}, metricsTokenFile: ${token}`);
  assert.equal(same.status, 1);
  assert.match(same.stderr, /api\.metricsTokenFile: holds the API token itself/);
  assert.equal(check(`metricsTokenFile: ${metrics}`).stderr,
    `${cfg}: api.metricsTokenFile: needs api.tokenFile (without a token every route is open, /metrics included)\n`);
});

test('fulcrum --version and fulcrum version print one line: version, git commit, DPDK version', () => {
  const pkg = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8'));
  for (const arg of ['--version', 'version']) {
    const r = run('fulcrum.js', [arg]);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stderr, '');
    // unknown only where the build had no git checkout or no libdpdk (scripts/build-info)
    assert.match(r.stdout, /^fulcrum (\S+) \(git ([0-9a-f]{12}|unknown), DPDK (\d+\.\d+\S*|unknown)\)\n$/);
    assert.equal(r.stdout.split(' ')[1], pkg.version);
  }
  assert.match(run('fulcrum.js', ['--help']).stdout, /version, --version/);
});

test('fulcrum --help documents check', () => {
  assert.match(run('fulcrum.js', ['--help']).stdout, /check \[--config FILE\]/);
});
