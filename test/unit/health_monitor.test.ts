// The health monitor as keepalived's checker side: real servers start up, go down after fall
// failures in a row (retried after delayBeforeRetry) and come back after rise successes (checked
// every interval); effective() removes a failed server or keeps it at weight 0, applies dynamic
// weights, and holds quorum with hysteresis, handing the service to its sorry server.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { validateConfig } from '../../src/control/config_load';
import type { FulcrumConfig, ServiceConfig } from '../../src/control/config_schema';
import { HealthMonitor } from '../../src/control/health/monitor';

const LOCAL = '127.0.0.1';
const SVC = 'tcp 10.0.0.1:80';

function config(services: unknown[]): FulcrumConfig {
  return validateConfig({ dataplane: { ports: [{ name: 'p0', device: 'net_null0' }] }, services });
}

/** A service on 10.0.0.1:80 with these checks and real servers (NAT, so ports are their own). */
const service = (healthChecks: unknown[], realServers: unknown[], extra: object = {}) =>
  ({ protocol: 'tcp', address: '10.0.0.1', port: 80, healthChecks, realServers, ...extra });

async function until(what: string, ok: () => boolean, ms = 3000): Promise<number> {
  const t0 = Date.now();
  while (!ok()) {
    if (Date.now() - t0 > ms) throw new Error(`${what} did not happen within ${ms} ms`);
    await sleep(10);
  }
  return Date.now() - t0;
}

function recorder() {
  const lines: Array<{ level: 'info' | 'warn'; o: Record<string, unknown>; msg: string }> = [];
  return {
    lines,
    log: {
      info: (o: object, msg: string) => void lines.push({ level: 'info', o: o as Record<string, unknown>, msg }),
      warn: (o: object, msg: string) => void lines.push({ level: 'warn', o: o as Record<string, unknown>, msg }),
    },
  };
}

/** A monitor that is stopped when the test ends, whether it passed or not. */
function monitorFor(t: TestContext, opts: ConstructorParameters<typeof HealthMonitor>[0]): HealthMonitor {
  const m = new HealthMonitor(opts);
  t.after(() => m.stop());
  return m;
}

/** A TCP server on 127.0.0.1 that closes each connection (a TCP check resets it first: that
 * is no error here); closed when the test ends at the latest. */
async function tcpServer(t: TestContext, port = 0): Promise<{ port: number; close: () => Promise<void> }> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
    s.on('error', () => {});
    s.end();
  });
  await new Promise<void>((resolve) => server.listen(port, LOCAL, resolve));
  const close = () => new Promise<void>((resolve) => {
    server.close(() => resolve());
    for (const s of sockets) s.destroy();
  });
  t.after(close);
  return { port: (server.address() as net.AddressInfo).port, close };
}

/** A temporary directory removed when the test ends. */
function tempDir(t: TestContext, prefix: string): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

async function closedPort(t: TestContext): Promise<number> {
  const s = await tcpServer(t);
  await s.close();
  return s.port;
}

test('real servers start up; while up, failures retry after delayBeforeRetry and fall of them take it down', async (t) => {
  const port = await closedPort(t);
  const { lines, log } = recorder();
  const failuresAtChange: number[] = [];
  const m: HealthMonitor = monitorFor(t, { log, onChange: () => failuresAtChange.push(m.counters().failures) });
  m.update(config([service([{ type: 'tcp', interval: 1, delayBeforeRetry: 0.05, fall: 3, timeout: 0.5, warmup: 0 }],
    [{ address: LOCAL, port, method: 'nat' }])]));
  assert.equal(m.status()[0].state, 'up', 'keepalived adds real servers at start');
  assert.equal(m.status()[0].lastResult, null);

  // Timed from the first result, so a check thread starting up does not count.
  await until('the first result', () => m.status()[0].lastResult !== null);
  const took = await until('down', () => m.status()[0].state === 'down');
  assert.ok(took < 700, `down ${took} ms after the first failure: the retries came after delayBeforeRetry, not the 1 s interval`);
  await until('reported', () => failuresAtChange.length > 0);
  assert.deepEqual(failuresAtChange, [3], 'down at the third failure in a row, not before');
  assert.deepEqual(m.counters(), { checks: 3, failures: 3, transitions: 1 });
  assert.deepEqual(lines.filter((l) => l.msg.startsWith('real server')).map((l) => [l.level, l.msg, l.o.service, l.o.address, l.o.port]),
    [['warn', 'real server down', SVC, LOCAL, port]]);
  assert.match(String(lines[0].o.detail), /^tcp: connect to .*ECONNREFUSED/);
  const st = m.status()[0];
  assert.equal(st.lastResult?.ok, false);
  assert.ok(st.lastResult!.durationMs >= 0);
  assert.equal(st.since, st.lastResult!.at, 'since is the time of the change');

  await sleep(500);
  assert.equal(m.counters().checks, 3, 'while down, the next check waits for the interval');
  m.stop();
});

test('while down, it comes back after rise successes in a row', async (t) => {
  const port = await closedPort(t);
  const { lines, log } = recorder();
  let successesAtUp = -1;
  const m: HealthMonitor = monitorFor(t, {
    log,
    onChange: () => {
      const c = m.counters();
      if (m.status()[0].state === 'up') successesAtUp = c.checks - c.failures;
    },
  });
  m.update(config([service([{ type: 'tcp', interval: 0.1, fall: 1, rise: 3, timeout: 0.5 }], [{ address: LOCAL, port, method: 'nat' }])]));
  await until('down', () => m.status()[0].state === 'down');
  const srv = await tcpServer(t, port);
  await until('up', () => m.status()[0].state === 'up');
  await until('reported', () => successesAtUp !== -1);
  assert.equal(successesAtUp, 3);
  assert.equal(m.counters().transitions, 2);
  const rs = lines.filter((l) => l.msg.startsWith('real server'));
  assert.deepEqual(rs.map((l) => [l.level, l.msg]), [['warn', 'real server down'], ['info', 'real server up']]);
  assert.match(String(rs[1].o.detail), /^tcp: connected to/);
  m.stop();
  await srv.close();
});

test('effective(): a failed server is removed, or kept with weight 0 under inhibitOnFailure; the input is untouched', async (t) => {
  const live = await tcpServer(t);
  const dead = await closedPort(t);
  const check = [{ type: 'tcp', interval: 0.1, fall: 1, timeout: 0.5 }];
  const servers = [
    { address: '127.0.0.1', port: live.port, method: 'nat', weight: 3 },
    { address: '127.0.0.2', port: dead, method: 'nat', weight: 2 },
    // Its own checks replace the service's: this one is checked on the live port.
    { address: LOCAL, port: dead, method: 'nat', weight: 4, healthChecks: [{ ...check[0], port: live.port }] },
    // [] turns checking off: never checked, always in.
    { address: '127.0.0.3', port: dead, method: 'nat', weight: 5, healthChecks: [] },
  ];
  const cfg = config([
    service(check, servers),
    { ...service(check, servers, { inhibitOnFailure: true }), port: 81 },
  ]);
  const before = structuredClone(cfg);
  const m: HealthMonitor = monitorFor(t, { onChange: () => {} });
  m.update(cfg);
  await until('127.0.0.2 down in both', () => m.status().filter((s) => s.state === 'down').length === 2);
  const eff = m.effective(cfg);
  assert.deepEqual(cfg, before);
  const rows = (i: number) => eff.services![i].realServers!.map((r) => [r.address, r.port, r.weight]);
  assert.deepEqual(rows(0), [['127.0.0.1', live.port, 3], [LOCAL, dead, 4], ['127.0.0.3', dead, 5]]);
  assert.deepEqual(rows(1), [['127.0.0.1', live.port, 3], ['127.0.0.2', dead, 0], [LOCAL, dead, 4], ['127.0.0.3', dead, 5]]);
  assert.deepEqual(m.status().map((s) => [s.service, s.address, s.state]), [
    [SVC, '127.0.0.1', 'up'], [SVC, '127.0.0.2', 'down'], [SVC, LOCAL, 'up'], [SVC, '127.0.0.3', 'unchecked'],
    ['tcp 10.0.0.1:81', '127.0.0.1', 'up'], ['tcp 10.0.0.1:81', '127.0.0.2', 'down'], ['tcp 10.0.0.1:81', LOCAL, 'up'], ['tcp 10.0.0.1:81', '127.0.0.3', 'unchecked'],
  ]);
  assert.equal(m.status()[3].lastResult, null);
  m.stop();
  await live.close();
});

test('quorum with hysteresis: lost below quorum - hysteresis, regained at quorum + hysteresis; the sorry server stands in', async (t) => {
  // Each real server is up while a file named by its address exists (the command learns it
  // from FULCRUM_CHECK_ADDRESS), so the test decides who is up.
  const dir = tempDir(t, 'fulcrum-quorum-');
  const set = (addr: string, on: boolean) => (on ? fs.writeFileSync(path.join(dir, addr), '') : fs.rmSync(path.join(dir, addr), { force: true }));
  ['127.0.0.1', '127.0.0.2', '127.0.0.3'].forEach((a) => set(a, true));
  const check = [{ type: 'command', command: ['sh', '-c', 'test -e "$0/$FULCRUM_CHECK_ADDRESS"', dir], interval: 0.1, fall: 1, rise: 1, timeout: 2 }];
  const servers = [
    { address: '127.0.0.1', port: 8080, method: 'nat', weight: 2 },
    { address: '127.0.0.2', port: 8080, method: 'nat', weight: 1 },
    { address: '127.0.0.3', port: 8080, method: 'nat', weight: 1 },
  ];
  const cfg = config([
    service(check, servers, { quorum: 3, hysteresis: 1, sorryServer: { address: '10.9.9.9' } }),
    { protocol: 'udp', address: '10.0.0.1', port: 53, quorum: 2, healthChecks: check, realServers: servers.slice(0, 2) },
  ]);
  const { lines, log } = recorder();
  const m: HealthMonitor = monitorFor(t, { log, onChange: () => {}, allowCommands: true });
  m.update(cfg);
  const state = (addr: string) => m.status().filter((s) => s.address === addr).map((s) => s.state);
  const waitState = (addr: string, st: string) => until(`${addr} ${st}`, () => state(addr).every((s) => s === st));
  const dests = (i: number) => m.effective(cfg).services![i].realServers!.map((r) => `${r.address}:${r.port}/${r.method}/${r.weight}`);

  assert.deepEqual(dests(0), ['127.0.0.1:8080/nat/2', '127.0.0.2:8080/nat/1', '127.0.0.3:8080/nat/1']);
  // 2 + 1 + 1 = 4; while it has quorum the threshold is 3 - 1 = 2.
  set('127.0.0.2', false);
  set('127.0.0.3', false);
  await waitState('127.0.0.2', 'down');
  await waitState('127.0.0.3', 'down');
  assert.deepEqual(dests(0), ['127.0.0.1:8080/nat/2'], 'a weight of 2 still holds quorum');
  assert.deepEqual(m.quorum()[0], { service: SVC, hasQuorum: true, sorryActive: false });

  set('127.0.0.1', false);
  set('127.0.0.2', true);
  await waitState('127.0.0.1', 'down');
  await waitState('127.0.0.2', 'up');
  assert.deepEqual(dests(0), ['10.9.9.9:80/nat/1'], 'below 2: the sorry server replaces the live one (port and method by default)');
  assert.deepEqual(m.quorum(), [
    { service: SVC, hasQuorum: false, sorryActive: true },
    { service: 'udp 10.0.0.1:53', hasQuorum: false, sorryActive: false },
  ]);
  assert.deepEqual(dests(1), ['127.0.0.2:8080/nat/1'], 'without a sorry server the live ones stay');
  assert.ok(lines.some((l) => l.level === 'warn' && l.msg === 'service lost quorum' && l.o.service === SVC));

  // Without quorum the threshold is 3 + 1 = 4: a sum of 3, the quorum itself, is not enough.
  set('127.0.0.1', true);
  await waitState('127.0.0.1', 'up');
  assert.deepEqual(dests(0), ['10.9.9.9:80/nat/1']);
  set('127.0.0.3', true);
  await waitState('127.0.0.3', 'up');
  assert.deepEqual(dests(0), ['127.0.0.1:8080/nat/2', '127.0.0.2:8080/nat/1', '127.0.0.3:8080/nat/1']);
  assert.deepEqual(m.quorum()[0], { service: SVC, hasQuorum: true, sorryActive: false });
  assert.ok(lines.some((l) => l.level === 'info' && l.msg === 'service regained quorum' && l.o.service === SVC));
});

test('a weight sum of 0 loses quorum even unchecked; update() alone does not evaluate it', (t) => {
  const m: HealthMonitor = monitorFor(t, { onChange: () => {} });
  const cfg = config([service([], [{ address: '127.0.0.1', port: 80, method: 'nat', weight: 0 }],
    { sorryServer: { address: '10.9.9.9', port: 8000, method: 'dr' } })]);
  m.update(cfg);
  assert.deepEqual(m.quorum(), [{ service: SVC, hasQuorum: true, sorryActive: false }]);
  assert.deepEqual(m.effective(cfg).services![0].realServers, [{ address: '10.9.9.9', port: 8000, method: 'dr', weight: 1 }]);
  assert.deepEqual(m.quorum(), [{ service: SVC, hasQuorum: false, sorryActive: true }]);
  m.stop();
});

test('a sorry server that is also a failed server kept at weight 0 is listed once', async (t) => {
  const dead = await closedPort(t);
  const m: HealthMonitor = monitorFor(t, { onChange: () => {} });
  const cfg = config([service([{ type: 'tcp', interval: 1, fall: 1, warmup: 0 }], [{ address: LOCAL, port: dead, method: 'nat', weight: 1 }],
    { inhibitOnFailure: true, sorryServer: { address: LOCAL, port: dead } })]);
  m.update(cfg);
  await until('down', () => m.status()[0].state === 'down');
  assert.deepEqual(m.quorum()[0].sorryActive, true, 'the check result evaluated the quorum');
  assert.deepEqual(m.effective(cfg).services![0].realServers, [{ address: LOCAL, port: dead, method: 'nat', weight: 1 }]);
  m.stop();
});

test('real servers without checks are up at their weight, in the quorum\'s sum, listed unchecked since their service listed them', async (t) => {
  const dead = await closedPort(t);
  const changed: string[][] = [];
  const m: HealthMonitor = monitorFor(t, { onChange: (keys) => changed.push(keys) });
  // One checked server that will fail, one without checks at weight 2: quorum 2 holds on it.
  const s1: ServiceConfig = { protocol: 'tcp', address: '10.0.0.1', port: 80, quorum: 2,
    realServers: [{ address: LOCAL, port: dead, method: 'nat', weight: 1, healthChecks: [{ type: 'tcp', interval: 0.1, fall: 1, warmup: 0 }] },
      { address: '10.9.0.1', port: 80, method: 'nat', weight: 2 }] };
  m.updateServices([s1], []);
  assert.deepEqual(m.statusOf(SVC).map((r) => r.state), ['up', 'unchecked']);
  const since = m.statusOf(SVC)[1].since;
  await until('down', () => m.statusOf(SVC)[0].state === 'down');
  assert.equal(m.quorumOf(SVC)!.hasQuorum, true, 'the unchecked server\'s weight keeps the quorum');
  assert.deepEqual(m.effectiveService(s1).realServers, [s1.realServers![1]], 'the configured object itself');
  await sleep(5);
  // A newcomer without checks is listed since it joined; the other keeps its time.
  const s2: ServiceConfig = { ...s1, realServers: [...s1.realServers!, { address: '10.9.0.2', port: 80, method: 'nat', weight: 1 }] };
  m.updateServices([s2], []);
  const rows = m.statusOf(SVC);
  assert.deepEqual(rows.map((r) => [r.address, r.state, r.lastResult]).slice(1), [['10.9.0.1', 'unchecked', null], ['10.9.0.2', 'unchecked', null]]);
  assert.equal(rows[1].since, since);
  assert.ok(rows[2].since > since, `${rows[2].since} after ${since}`);
  const plain: ServiceConfig = { protocol: 'tcp', address: '10.0.0.1', port: 81, realServers: [{ address: '10.9.0.1', port: 80, method: 'nat', weight: 1 }] };
  m.updateServices([plain], []);
  assert.equal(m.effectiveService(plain), plain, 'nothing changed by health: the service itself');
  m.stop();
});

test('command checks run only when the monitor allows them', async (t) => {
  const m: HealthMonitor = monitorFor(t, { onChange: () => {} });
  m.update(config([service([{ type: 'command', command: ['true'], interval: 0.1, fall: 1 }], [{ address: LOCAL, port: 80, method: 'nat' }])]));
  await until('down', () => m.status()[0].state === 'down');
  assert.match(m.status()[0].lastResult!.detail, /command checks are not allowed/);
  m.stop();
});

test('dynamic weights: a command\'s exit - 2 is the weight; an agent scales the configured weight; changes call onChange', async (t) => {
  const code = path.join(tempDir(t, 'fulcrum-dyn-'), 'code');
  fs.writeFileSync(code, '7');
  let load = '75%';
  const agent = net.createServer((s) => s.end(`${load}\n`));
  await new Promise<void>((resolve) => agent.listen(0, LOCAL, resolve));
  t.after(() => new Promise<void>((resolve) => agent.close(() => resolve())));
  const agentPort = (agent.address() as net.AddressInfo).port;
  let changes = 0;
  const m: HealthMonitor = monitorFor(t, {
    onChange: (keys) => {
      assert.deepEqual(keys, [SVC]);
      changes++;
    },
    allowCommands: true,
  });
  const cfg = config([service([], [
    { address: '127.0.0.1', port: 8080, method: 'nat', weight: 1,
      healthChecks: [{ type: 'command', dynamic: true, command: ['sh', '-c', 'exit $(cat "$0")', code], interval: 0.1, fall: 1 }] },
    { address: '127.0.0.2', port: 8080, method: 'nat', weight: 8,
      healthChecks: [{ type: 'agent', address: LOCAL, port: agentPort, interval: 0.1, fall: 1 }] },
  ])]);
  m.update(cfg);
  const weights = () => m.effective(cfg).services![0].realServers!.map((r) => r.weight);
  await until('dynamic weights', () => weights().join() === '5,2');
  assert.deepEqual(m.status().map((s) => s.weight), [5, 2]);
  await until('reported', () => changes >= 1);
  const seen = changes;

  fs.writeFileSync(code, '12');
  load = '50';
  await until('new weights', () => weights().join() === '10,4');
  await until('the new weights reported', () => changes > seen);
  await sleep(50);
  const settled = changes;
  await sleep(200);
  assert.equal(changes, settled, 'the same weight again is no change');

  fs.writeFileSync(code, '1');
  await until('command down', () => m.status()[0].state === 'down');
  assert.deepEqual(weights(), [4]);
});

test('update() keeps the state and timers of real servers whose checks did not change', async (t) => {
  const dead = await closedPort(t);
  const check = { type: 'tcp', interval: 1, fall: 1, timeout: 0.5, warmup: 0 };
  const a = { address: '127.0.0.1', port: dead, method: 'nat' };
  const b = { address: '127.0.0.2', port: dead, method: 'nat' };
  const m: HealthMonitor = monitorFor(t, { onChange: () => {} });
  m.update(config([service([check], [a])]));
  await until('a down', () => m.status()[0].state === 'down');
  const was = m.status()[0];

  // The same checks written in another key order, a new weight and a new neighbour.
  const reordered = Object.fromEntries(Object.entries(check).reverse());
  m.update(config([service([reordered], [{ ...a, weight: 9 }, b])]));
  await until('b checked', () => m.status()[1].lastResult !== null);
  assert.deepEqual(m.status()[0], was, 'a kept its state and was not checked again early');
  assert.equal(m.status()[1].state, 'down');

  // Different checks start afresh: up, and checked at once.
  m.update(config([service([{ ...check, timeout: 0.4 }], [a, b])]));
  assert.deepEqual(m.status().map((s) => [s.state, s.lastResult]), [['up', null], ['up', null]]);
  await until('checked again', () => m.status().every((s) => s.state === 'down'));

  m.update(config([service([check], [b])]));
  assert.deepEqual(m.status().map((s) => s.address), ['127.0.0.2'], 'a removed server is no longer checked');
  m.stop();
  assert.deepEqual(m.status(), []);
});

test('stop() aborts checks in flight and clears every timer', async (t) => {
  let open = 0;
  const hang = net.createServer((s) => {
    open++;
    s.resume();
    s.on('close', () => open--);
  });
  await new Promise<void>((resolve) => hang.listen(0, LOCAL, resolve));
  t.after(() => new Promise<void>((resolve) => hang.close(() => resolve())));
  // On a check thread (the default) and on the monitor's own.
  for (const checkThreads of [undefined, 0]) {
    const m: HealthMonitor = monitorFor(t, { onChange: () => {}, checkThreads });
    m.update(config([service([{ type: 'http', interval: 0.1, timeout: 10 }], [{ address: LOCAL, port: (hang.address() as net.AddressInfo).port, method: 'nat' }])]));
    await until('a check in flight', () => open === 1);
    m.stop();
    await until('its connection closed', () => open === 0, 500);
    await sleep(300);
    assert.deepEqual(m.counters(), { checks: 0, failures: 0, transitions: 0 }, 'the aborted check is not a result');
  }
});

test('a monitor never keeps a process alive by itself, and after stop() nothing does', () => {
  const monitor = path.join(__dirname, '../../src/control/health/monitor.js');
  // The child holds the process for 1 s by itself (so the first check runs, on a check thread
  // that has to start first), then only the monitor and what it started are left; a server that
  // does not hold the process is there to hang.
  const child = (checkJson: string, stopAfterMs: number | null, port: string) => `
    const net = require('node:net');
    const { HealthMonitor } = require(${JSON.stringify(monitor)});
    let connections = 0;
    const hang = net.createServer((s) => { connections++; s.resume(); s.unref(); });
    hang.listen(0, '127.0.0.1', () => {
      hang.unref();
      setTimeout(() => {}, 1000);
      const m = new HealthMonitor({ onChange() {} });
      const port = ${port};
      m.update({ dataplane: { ports: [] }, services: [{ protocol: 'tcp', address: '10.0.0.1', port: 80,
        healthChecks: [${checkJson}], realServers: [{ address: '127.0.0.1', port, method: 'nat' }] }] });
      process.on('exit', () => console.log(JSON.stringify({ ...m.counters(), connections })));
      ${stopAfterMs === null ? '' : `setTimeout(() => m.stop(), ${stopAfterMs});`}
    });`;
  const run = (script: string) => {
    const t0 = Date.now();
    const r = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8', timeout: 8000 });
    return { ...r, ms: Date.now() - t0 };
  };

  // A check against a closed port fails at once; its retry timer alone must not hold the process.
  const idle = run(child(`{ type: 'tcp', interval: 5, delayBeforeRetry: 5, warmup: 0 }`, null, '1'));
  assert.equal(idle.signal, null, `killed after ${idle.ms} ms: something kept the process alive`);
  assert.equal(idle.status, 0, idle.stderr);
  assert.equal(JSON.parse(idle.stdout).checks, 1);
  assert.ok(idle.ms < 4000, `exited after ${idle.ms} ms, before the retry at 5 s`);

  // A check hanging for 20 s is aborted by stop().
  const stopped = run(child(`{ type: 'http', interval: 5, timeout: 20, warmup: 0 }`, 800, 'hang.address().port'));
  assert.equal(stopped.signal, null, `killed after ${stopped.ms} ms: stop() left something running`);
  assert.equal(stopped.status, 0, stopped.stderr);
  assert.ok(stopped.ms < 5000, `exited after ${stopped.ms} ms`);
  assert.deepEqual(JSON.parse(stopped.stdout), { checks: 0, failures: 0, transitions: 0, connections: 1 });
});

test('services listing the same real server with the same checks share one probe and one state; it runs while one still uses it', async (t) => {
  const srv = await tcpServer(t);
  const port = srv.port;
  const check = [{ type: 'tcp', interval: 0.2, fall: 1, rise: 1, timeout: 0.5, warmup: 0 }];
  const rs = (weight: number) => [{ address: LOCAL, port, method: 'nat', weight }];
  // A virtual_server_group's VIPs: the same backend and checks; each service its own weight and inhibitOnFailure.
  const [s80, s81, s82] = config([
    service(check, rs(2)),
    { ...service(check, rs(3), { inhibitOnFailure: true }), port: 81 },
    { ...service(check, rs(1)), port: 82 },
  ]).services!;
  const { lines, log } = recorder();
  const changes: string[][] = [];
  const m: HealthMonitor = monitorFor(t, { log, onChange: (keys) => changes.push([...keys].sort()), changeWindowMs: 0 });
  m.updateServices([s80, s81], []);
  assert.equal(m.scheduling().waiting, 1, 'one check loop for the two services');

  await until('checked', () => m.statusOf(SVC)[0].lastResult !== null);
  const c0 = m.counters().checks;
  const t0 = Date.now();
  await sleep(1000);
  const checks = m.counters().checks - c0;
  const bound = (Date.now() - t0) / 200 + 1;
  assert.ok(checks >= 2 && checks <= bound, `${checks} checks in ${Date.now() - t0} ms at a 0.2 s interval: one probe (at most ${bound}), not one per service`);
  assert.deepEqual(m.statusOf('tcp 10.0.0.1:81')[0].lastResult, m.statusOf(SVC)[0].lastResult, 'the same result');

  await srv.close();
  await until('down in both', () => m.status().every((st) => st.state === 'down'));
  const [a, b] = m.status();
  assert.equal(a.since, b.since, 'one transition');
  assert.deepEqual(m.counters().transitions, 1);
  assert.deepEqual(lines.filter((l) => l.msg === 'real server down').map((l) => [l.o.service, l.o.sharedBy]), [[SVC, 2]], 'logged once for the backend');
  await until('both reported', () => changes.flat().includes(SVC) && changes.flat().includes('tcp 10.0.0.1:81'));
  // Each service applies the shared verdict its own way.
  assert.deepEqual(m.effectiveService(s80).realServers, []);
  assert.deepEqual(m.effectiveService(s81).realServers!.map((r) => r.weight), [0], 'kept at weight 0 under its inhibitOnFailure');
  assert.deepEqual([m.quorumOf(SVC)!.hasQuorum, m.quorumOf('tcp 10.0.0.1:81')!.hasQuorum], [false, false]);

  // A service that joins later takes the probe's state as it is.
  m.updateServices([s82], []);
  assert.equal(m.statusOf('tcp 10.0.0.1:82')[0].state, 'down');
  assert.equal(m.scheduling().waiting + m.scheduling().inFlight, 1);

  // Removing two of the three leaves the probe running for the last.
  m.updateServices([], [SVC, 'tcp 10.0.0.1:82']);
  const c1 = m.counters().checks;
  await until('still probed', () => m.counters().checks >= c1 + 2, 2000);
  const back = await tcpServer(t, port);
  await until('up for the one left', () => m.statusOf('tcp 10.0.0.1:81')[0].state === 'up');
  assert.deepEqual(m.effectiveService(s81).realServers!.map((r) => r.weight), [3]);

  // The last one gone, nothing runs.
  m.updateServices([], ['tcp 10.0.0.1:81']);
  const c2 = m.counters().checks;
  await sleep(500);
  assert.ok(m.counters().checks <= c2 + 1, 'at most an attempt in flight finished after');
  assert.deepEqual([m.scheduling().waiting, m.status()], [0, []]);
  await back.close();
});

test('updateServices() touches only the services named; the others keep their state and timers', async (t) => {
  const dead = await closedPort(t);
  const check = [{ type: 'tcp', interval: 0.2, fall: 1, timeout: 0.5, warmup: 0 }];
  const a = service(check, [{ address: '127.0.0.1', port: dead, method: 'nat' }]);
  const b = { ...service(check, [{ address: '127.0.0.2', port: dead, method: 'nat' }]), port: 81 };
  const m: HealthMonitor = monitorFor(t, { onChange: () => {} });
  const [sa, sb] = config([a, b]).services!;
  m.updateServices([sa, sb], []);
  await until('both down', () => m.status().every((s) => s.state === 'down'));
  const bWas = m.statusOf('tcp 10.0.0.1:81')[0];

  // A's checks change: it starts afresh (up, unchecked yet); B is not named and is left alone.
  const a2 = config([{ ...a, healthChecks: [{ ...check[0], timeout: 0.4 }] }]).services![0];
  m.updateServices([a2], []);
  assert.deepEqual(m.statusOf(SVC).map((s) => [s.state, s.lastResult]), [['up', null]]);
  assert.deepEqual(m.statusOf('tcp 10.0.0.1:81')[0], bWas);
  assert.deepEqual(m.quorumOf(SVC)!, { service: SVC, hasQuorum: false, sorryActive: false }, 'lost while A was down');
  assert.deepEqual(m.effectiveService(a2).realServers!.map((r) => r.address), ['127.0.0.1']);
  assert.deepEqual(m.quorumOf(SVC)!, { service: SVC, hasQuorum: true, sorryActive: false }, 'A restarted up');
  await until('B checked again on its own schedule', () => m.statusOf('tcp 10.0.0.1:81')[0].lastResult!.at !== bWas.lastResult!.at);

  m.updateServices([], ['tcp 10.0.0.1:81']);
  assert.deepEqual(m.statusOf('tcp 10.0.0.1:81'), []);
  assert.equal(m.quorumOf('tcp 10.0.0.1:81'), undefined);
  assert.deepEqual(m.status().map((s) => s.service), [SVC], 'a removed service is no longer checked');
});

test('onChange is coalesced: results within the window are reported once, as the keys of the services affected', async (t) => {
  const dead = await closedPort(t);
  const check = [{ type: 'tcp', interval: 5, fall: 1, timeout: 0.5, warmup: 0 }];
  const servers = [1, 2, 3, 4, 5].map((i) => ({ address: `127.0.0.${i}`, port: dead, method: 'nat' }));
  const calls: string[][] = [];
  const m: HealthMonitor = monitorFor(t, { onChange: (keys) => calls.push(keys), changeWindowMs: 200 });
  const cfg = config([service(check, servers), { ...service(check, servers), port: 81 }, { ...service([], servers), port: 82 }]);
  m.updateServices(cfg.services!, []);
  await until('all checked down', () => m.status().filter((s) => s.state === 'down').length === 10);
  await until('reported', () => calls.length > 0);
  await sleep(300);
  assert.deepEqual(calls.map((keys) => [...keys].sort()), [[SVC, 'tcp 10.0.0.1:81']],
    'ten results, one call, each service once; the unchecked service is not named');
  // What the dataplane should have for one of them, without the whole config.
  assert.deepEqual(m.effectiveService(cfg.services![0]).realServers, []);
  assert.deepEqual(m.effectiveService(cfg.services![2]).realServers!.length, 5);
});

test('checks in flight are bounded by maxInFlight; first checks are spread over the interval', async (t) => {
  let open = 0;
  let peak = 0;
  const hang = net.createServer((s) => {
    peak = Math.max(peak, ++open);
    s.resume();
    s.on('close', () => open--);
  });
  await new Promise<void>((resolve) => hang.listen(0, LOCAL, resolve));
  t.after(() => new Promise<void>((resolve) => hang.close(() => resolve())));
  const port = (hang.address() as net.AddressInfo).port;
  const m: HealthMonitor = monitorFor(t, { onChange: () => {}, maxInFlight: 4 });
  const servers = Array.from({ length: 20 }, (_, i) => ({ address: `127.0.1.${i + 1}`, port: 8080, method: 'nat' }));
  m.update(config([service([{ type: 'http', address: LOCAL, port, interval: 0.2, timeout: 10, warmup: 0 }], servers)]));
  await until('four in flight', () => open === 4);
  await sleep(300);
  assert.equal(peak, 4, 'never more than maxInFlight connections');
  const st = m.scheduling();
  assert.deepEqual([st.inFlight, st.queued, st.maxInFlight], [4, 16, 4]);
  m.stop();
  await until('closed', () => open === 0);

  // Without warmup the first checks of 200 real servers land across the 1 s interval (run on
  // this thread, so a check thread starting does not delay the first results).
  const spread: HealthMonitor = monitorFor(t, { onChange: () => {}, checkThreads: 0 });
  const many = Array.from({ length: 200 }, (_, i) => ({ address: `127.0.${2 + (i >> 8)}.${(i & 255) + 1}`, port: 9, method: 'nat' }));
  const t0 = Date.now();
  spread.update(config([service([{ type: 'tcp', interval: 1, timeout: 0.5 }], many)]));
  await until('all checked once', () => spread.status().every((s) => s.lastResult !== null), 3000);
  const at = spread.status().map((s) => Date.parse(s.lastResult!.at) - t0).sort((a, b) => a - b);
  // All at once they would land within a few tens of milliseconds.
  assert.ok(at[at.length - 1] - at[0] > 600, `first checks from ${at[0]} to ${at[at.length - 1]} ms`);
  const firstHalf = at.filter((x) => x < at[0] + 500).length;
  assert.ok(firstHalf > 50 && firstHalf < 150, `${firstHalf} of 200 in the first half`);
});

test('quorum is logged only on a real transition of a service that had servers, never for the normal life of a service', async (t) => {
  const dead = await closedPort(t);
  const live = await tcpServer(t);
  const { lines, log } = recorder();
  const quorumLines = () => lines.filter((l) => l.msg.includes('quorum')).map((l) => [l.level, l.msg]);
  const m: HealthMonitor = monitorFor(t, { log, onChange: () => {}, changeWindowMs: 0 });
  const check = [{ type: 'tcp', interval: 0.1, fall: 1, rise: 1, timeout: 0.5, warmup: 0 }];

  // ipvsadm -A: a service without real servers has no quorum, and that is no news.
  const empty = config([service(check, [])]).services![0];
  m.updateServices([empty], []);
  assert.deepEqual(m.effectiveService(empty).realServers, []);
  assert.equal(m.quorumOf(SVC)!.hasQuorum, false);
  // ipvsadm -a: its first server gives it quorum; nothing was lost, so nothing was regained.
  const one = config([service(check, [{ address: LOCAL, port: live.port, method: 'nat' }])]).services![0];
  m.updateServices([one], []);
  assert.equal(m.effectiveService(one).realServers!.length, 1);
  assert.equal(m.quorumOf(SVC)!.hasQuorum, true);
  // ipvsadm -d of the last one: the operator emptied it, no warning either.
  m.updateServices([empty], []);
  m.effectiveService(empty);
  assert.equal(m.quorumOf(SVC)!.hasQuorum, false);
  assert.deepEqual(quorumLines(), []);

  // A service with a server that fails: that loss is news, and so is getting it back.
  const port = dead;
  const failing = config([service(check, [{ address: LOCAL, port, method: 'nat' }])]).services![0];
  m.updateServices([failing], []);
  m.effectiveService(failing);
  await until('down', () => m.statusOf(SVC)[0].state === 'down');
  assert.deepEqual(quorumLines(), [['warn', 'service lost quorum']]);
  const srv = await tcpServer(t, port);
  await until('up', () => m.statusOf(SVC)[0].state === 'up');
  assert.deepEqual(quorumLines(), [['warn', 'service lost quorum'], ['info', 'service regained quorum']]);
  await srv.close();

  // A service whose servers never bore weight never held quorum: no warning.
  const weightless = { ...service(check, [{ address: LOCAL, port: live.port, method: 'nat', weight: 0 }]), port: 81 };
  const w = config([weightless]).services![0];
  m.updateServices([w], []);
  m.effectiveService(w);
  await sleep(150);
  m.effectiveService(w);
  assert.equal(m.quorumOf('tcp 10.0.0.1:81')!.hasQuorum, false);
  assert.equal(lines.filter((l) => l.msg.includes('quorum') && l.o.service === 'tcp 10.0.0.1:81').length, 0);
});

test('checks run on check threads by default, or on this thread with checkThreads: 0, with the same results; TCP checks in the addon either way', async (t) => {
  const live = await tcpServer(t);
  const web = http.createServer((_req, res) => res.end('ok'));
  await new Promise<void>((resolve) => web.listen(0, LOCAL, resolve));
  t.after(() => new Promise<void>((resolve) => {
    web.close(() => resolve());
    web.closeAllConnections();
  }));
  const webPort = (web.address() as net.AddressInfo).port;
  const dead = await closedPort(t);
  for (const checkThreads of [undefined, 0, 3]) {
    const m: HealthMonitor = monitorFor(t, { onChange: () => {}, checkThreads });
    const timing = { interval: 0.1, fall: 1, timeout: 0.5, warmup: 0 };
    const servers = [webPort, dead].map((port, i) => ({ address: `127.0.0.${i + 1}`, port, method: 'nat' }));
    m.update(config([
      service([{ type: 'http', address: LOCAL, ...timing }], servers),
      { ...service([{ type: 'tcp', address: LOCAL, ...timing }], [live.port, dead].map((port, i) => ({ address: `127.0.0.${i + 1}`, port, method: 'nat' }))), port: 81 },
    ]));
    await until('all checked', () => m.status().every((s) => s.lastResult !== null));
    await until('the dead ones down', () => m.status().filter((s) => s.state === 'down').length === 2);
    const [webUp, webDown, tcpUp, tcpDown] = m.status();
    assert.deepEqual([webUp.state, webDown.state, tcpUp.state, tcpDown.state], ['up', 'down', 'up', 'down'], `checkThreads ${checkThreads}`);
    assert.match(webUp.lastResult!.detail, /^http: status 200$/);
    assert.match(webDown.lastResult!.detail, /^http: GET \/ from 127\.0\.0\.1:\d+: .*ECONNREFUSED/);
    assert.match(tcpUp.lastResult!.detail, /^tcp: connected to 127\.0\.0\.1:/);
    assert.match(tcpDown.lastResult!.detail, /^tcp: connect to 127\.0\.0\.1:\d+: connect ECONNREFUSED 127\.0\.0\.1:\d+$/);
    m.stop();
  }
});

test('stop() ends a command check in flight: its process does not outlive the monitor', async (t) => {
  const dir = tempDir(t, 'fulcrum-stop-cmd-');
  const pidFile = path.join(dir, 'pid');
  for (const checkThreads of [undefined, 0]) {
    fs.rmSync(pidFile, { force: true });
    const m: HealthMonitor = monitorFor(t, { onChange: () => {}, allowCommands: true, checkThreads });
    m.update(config([service([{ type: 'command', command: ['sh', '-c', 'echo $$ > "$0"; exec sleep 30', pidFile], interval: 5, timeout: 60, warmup: 0 }],
      [{ address: LOCAL, port: 80, method: 'nat' }])]));
    await until('the command running', () => fs.existsSync(pidFile) && fs.readFileSync(pidFile, 'utf8').trim() !== '');
    const pid = Number(fs.readFileSync(pidFile, 'utf8'));
    m.stop();
    const alive = () => {
      try {
        process.kill(pid, 0);
        return true;
      } catch {
        return false;
      }
    };
    await until(`the command (pid ${pid}) gone, checkThreads ${checkThreads}`, () => !alive(), 2000);
  }
});

test('a check the egress guard refuses is a failure with its reason, and nothing is sent', async (t) => {
  let connections = 0;
  const server = net.createServer((s) => { connections++; s.end(); });
  await new Promise<void>((r) => server.listen(0, LOCAL, r));
  t.after(() => new Promise<void>((r) => server.close(() => r())));
  const port = (server.address() as net.AddressInfo).port;
  const egress = { refusal: (a: string) => (a === LOCAL ? 'not sent: reached through eth0' : undefined) };
  const m = monitorFor(t, { onChange: () => undefined, egress, checkThreads: 0 });
  m.update(config([service([{ type: 'tcp', interval: 0.1, fall: 1, timeout: 0.5, warmup: 0 }], [{ address: LOCAL, port, method: 'nat' }])]));
  await until('down', () => m.status()[0].state === 'down');
  assert.match(m.status()[0].lastResult!.detail, /^tcp: not sent: reached through eth0$/);
  assert.equal(connections, 0);
});

test('checked() lists the real servers of services with checks only (a scrape\'s health series), status() every one', async (t) => {
  const s = await tcpServer(t);
  const { log } = recorder();
  const m = monitorFor(t, { log, onChange: () => {} });
  m.update(config([
    service([{ type: 'tcp', interval: 5, timeout: 0.5, warmup: 0 }], [{ address: LOCAL, port: s.port, method: 'nat' }]),
    { protocol: 'tcp', address: '10.0.0.2', port: 80, realServers: [{ address: '10.0.1.1', port: 80, method: 'nat' }, { address: '10.0.1.2', port: 80, method: 'nat' }] },
  ]));
  assert.deepEqual([...m.checked()].map((r) => `${r.service} ${r.address}`), [`${SVC} ${LOCAL}`]);
  assert.equal(m.status().length, 3);
});
