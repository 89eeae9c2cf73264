// The two commands as a user runs them: help, version, and usage errors with their exit codes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import path from 'node:path';

const root = path.resolve(__dirname, '../../..');
const run = (bin: string, args: string[]) =>
  spawnSync(process.execPath, [path.join(root, 'bin', bin), ...args], { encoding: 'utf8' });

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
