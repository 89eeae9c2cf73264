// Starting the dataplane: a failure names its cause and leaves nothing running, so the same
// process can start again once the config is fixed. Runs in a namespace of its own.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import os from 'node:os';
import path from 'node:path';
import { cannotRun, root, run } from './harness';

const skip = cannotRun();
const NS = 'fist';

// A script run inside the namespace: bad starts, then a good one, in one process.
const script = `
const a = require(${JSON.stringify(path.join(root, 'build/native/Release/fulcrum.node'))});
const core = { services: [], rules: [], timeouts: { tcp: 900, tcpfin: 120, udp: 300 }, tunnelSource: '0.0.0.0', mtu: 1500 };
const opts = (ports, workers = [1], connTableSize = 4096) => ({ eal: ['--log-level=error'], workers, connTableSize,
  idleBackoff: { pauseAfterPolls: 64, maxSleepMicroseconds: 100 }, limits: { maxServices: 8, maxDests: 8 },
  ports, routes: [], localAddresses: [] });
const tryStart = (o) => { try { a.start(o, core); return 'started'; } catch (e) { return e.message; } };
const out = {
  conns: tryStart(opts([{ name: 'a', device: 'net_null0' }], [1], 1 << 30)),
  cpu: tryStart(opts([{ name: 'a', device: 'net_null0' }], [64])),
  port: tryStart(opts([{ name: 'a', device: 'net_null0' }, { name: 'b', device: 'net_af_packet0,iface=nosuchif' }])),
  runningAfterFailure: a.running(),
  good: tryStart(opts([{ name: 'a', device: 'net_null0', tap: 'fk-a' }, { name: 'b', device: 'net_null1' }])),
  runningAfterGood: a.running(),
};
a.stop();
out.runningAfterStop = a.running();
console.log(JSON.stringify(out));
`;

test('a failed start names its cause, leaves nothing running, and a fixed config starts', { skip }, () => {
  run('ip', ['netns', 'add', NS]);
  try {
    const r = run('ip', ['netns', 'exec', NS, process.execPath, '-e', script], { timeout: 60000 });
    assert.equal(r.status, 0, r.stderr);
    const out = JSON.parse(r.stdout.trim().split('\n').pop()!);
    assert.match(out.conns, /^dataplane\.connTableSize: 1073741824 connections need \d+ bytes per worker .*available/);
    assert.match(out.cpu, /dataplane\.workers\[0\]: CPU 64 is not available/);
    assert.match(out.port, /port 'b' \(net_af_packet0,iface=nosuchif\): cannot create the device/);
    assert.equal(out.runningAfterFailure, false);
    assert.equal(out.good, 'started');
    assert.equal(out.runningAfterGood, true);
    assert.equal(out.runningAfterStop, false);
  } finally {
    run('ip', ['netns', 'del', NS]);
  }
});

// What runs beside a polling worker on its core: nothing of the process but the worker. The
// threads Node had before the dataplane started (the garbage collector's helpers, libuv's
// pool) are moved off it, so neither slows the other down.
const placement = `
const fs = require('node:fs');
const a = require(${JSON.stringify(path.join(root, 'build/native/Release/fulcrum.node'))});
const core = { services: [], rules: [], timeouts: { tcp: 900, tcpfin: 120, udp: 300 }, tunnelSource: '0.0.0.0', mtu: 1500 };
a.start({ eal: ['--log-level=error'], workers: [1], connTableSize: 4096,
  idleBackoff: { pauseAfterPolls: 64, maxSleepMicroseconds: 100 }, limits: { maxServices: 8, maxDests: 8 },
  ports: [{ name: 'a', device: 'net_null0' }], routes: [], localAddresses: [] }, core);
const threads = fs.readdirSync('/proc/self/task').map((t) => {
  const status = fs.readFileSync('/proc/self/task/' + t + '/status', 'utf8');
  return { name: /^Name:\\s*(.*)$/m.exec(status)[1], cpus: /^Cpus_allowed_list:\\s*(.*)$/m.exec(status)[1] };
});
a.stop();
console.log(JSON.stringify(threads));
`;

test('a worker\'s CPU is its own: every other thread of the process is kept off it', { skip: skip || (os.cpus().length < 2 && 'needs 2 CPUs') }, () => {
  run('ip', ['netns', 'add', NS]);
  try {
    const r = run('ip', ['netns', 'exec', NS, process.execPath, '-e', placement], { timeout: 60000 });
    assert.equal(r.status, 0, r.stderr);
    const threads = JSON.parse(r.stdout.trim().split('\n').pop()!) as Array<{ name: string; cpus: string }>;
    const onOne = (cpus: string) => cpus.split(',').some((part) => {
      const [lo, hi] = part.split('-').map(Number);
      return lo <= 1 && 1 <= (hi ?? lo);
    });
    assert.deepEqual(threads.filter((t) => t.name.startsWith('rte-worker')).map((t) => t.cpus), ['1']);
    const others = threads.filter((t) => !t.name.startsWith('rte-worker'));
    assert.ok(others.length >= 5, `Node's own threads are there: ${JSON.stringify(others)}`);
    assert.deepEqual(others.filter((t) => onOne(t.cpus)), [], 'no other thread may run on CPU 1');
  } finally {
    run('ip', ['netns', 'del', NS]);
  }
});
