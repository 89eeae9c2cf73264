// TCP checks where loopback cannot stand in, in a network namespace of the test's own: a target
// whose SYNs vanish (routed, without ARP, into a veth whose peer is down, which drops them) is
// down at the timeout, through the checker and through the monitor; a target with no route is
// down at once, in the words a Node socket uses (less its " - Local (0.0.0.0:0)"); nothing is
// left open. Nothing leaves the namespace.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { cannotRun, root, run } from './harness';

const skip = cannotRun();
const NS = 'fitcp';

/** Runs a script with node inside the namespace; its last line of output is JSON. */
function inNamespace(script: string) {
  const r = run('ip', ['netns', 'exec', NS, process.execPath, '-e', script], { timeout: 20000 });
  assert.equal(r.status, 0, r.stderr);
  return JSON.parse(r.stdout.trim().split('\n').pop()!);
}

describe('TCP checks in a namespace', { skip }, () => {
  before(() => {
    run('ip', ['netns', 'del', NS]);
    for (const args of [['netns', 'add', NS], ['-n', NS, 'link', 'set', 'lo', 'up'],
      ['-n', NS, 'link', 'add', 'fitcp-a', 'type', 'veth', 'peer', 'name', 'fitcp-b'],
      ['-n', NS, 'link', 'set', 'fitcp-a', 'arp', 'off', 'up'], ['-n', NS, 'addr', 'add', '198.18.77.1/24', 'dev', 'fitcp-a']]) {
      const r = run('ip', args);
      assert.equal(r.status, 0, `ip ${args.join(' ')}: ${r.stderr}`);
    }
  });
  after(() => void run('ip', ['netns', 'del', NS]));

  test('a blackholed target is down at the timeout; an unroutable one at once, as a Node socket says; no descriptor is left', () => {
    const checker = path.join(root, 'dist/src/control/health/tcp_checker.js');
    const out = inNamespace(`
      const fs = require('node:fs');
      const net = require('node:net');
      const { checkTcp } = require(${JSON.stringify(checker)});
      const fds = () => fs.readdirSync('/proc/self/fd').length;
      (async () => {
        await checkTcp({ type: 'tcp', timeout: 0.05 }, { address: '127.0.0.1', port: 1 });  // the prober's thread is up
        const before = fds();
        const t0 = performance.now();
        const silent = await Promise.all([1, 2, 3].map((i) => checkTcp({ type: 'tcp', timeout: 0.4 }, { address: '198.18.77.' + (i + 1), port: 80 })));
        const took = performance.now() - t0;
        const unroutable = await checkTcp({ type: 'tcp', timeout: 2 }, { address: '198.18.78.2', port: 80 });
        const leaked = fds() - before;
        const node = await new Promise((resolve) => net.connect({ host: '198.18.78.2', port: 80 }).on('error', (e) => resolve(e.message)));
        console.log(JSON.stringify({ silent, took, unroutable, node, leaked }));
      })();`);
    assert.deepEqual(out.silent.map((r: { detail: string }) => r.detail),
      [2, 3, 4].map((i) => `no connection to 198.18.77.${i}:80 within 0.4s`));
    assert.ok(out.took >= 399 && out.took < 1500, `${out.took} ms`);
    // Node adds the unbound local address to an error connect() returns at once; it says nothing.
    assert.deepEqual(out.unroutable, { ok: false, detail: `connect to 198.18.78.2:80: ${out.node.replace(' - Local (0.0.0.0:0)', '')}` });
    assert.match(out.node, /ENETUNREACH/);
    assert.equal(out.leaked, 0);
  });

  test('the monitor takes a blackholed real server down after fall timeouts, with the timeout as the reason', () => {
    const monitor = path.join(root, 'dist/src/control/health/monitor.js');
    const out = inNamespace(`
      const { HealthMonitor } = require(${JSON.stringify(monitor)});
      const lines = [];
      const log = { info: (o, msg) => lines.push(msg), warn: (o, msg) => lines.push(msg + ': ' + o.detail) };
      const m = new HealthMonitor({ log, onChange() {} });
      m.update({ dataplane: { ports: [] }, services: [{ protocol: 'tcp', address: '10.0.0.1', port: 80,
        healthChecks: [{ type: 'tcp', interval: 0.2, timeout: 0.2, fall: 2, delayBeforeRetry: 0.05, warmup: 0 }],
        realServers: [{ address: '198.18.77.9', port: 8080, method: 'nat' }] }] });
      const t0 = Date.now();
      const poll = setInterval(() => {
        if (m.status()[0].state !== 'down' && Date.now() - t0 < 5000) return;
        clearInterval(poll);
        console.log(JSON.stringify({ state: m.status()[0].state, counters: m.counters(), lines, ms: Date.now() - t0 }));
        m.stop();
      }, 20);`);
    assert.equal(out.state, 'down');
    assert.deepEqual(out.counters, { checks: 2, failures: 2, transitions: 1 });
    assert.deepEqual(out.lines, ['real server down: tcp: no connection to 198.18.77.9:8080 within 0.2s']);
  });
});
