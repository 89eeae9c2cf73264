// The sync daemons a director runs: the kernel's defaults and clamps, the config's rules, and
// a list kept in the state directory where acknowledged means running and durable and refused
// means nothing changed. The dataplane here is a recorder of the addon's calls (the daemons
// themselves are the addon's, tested with real datagrams in test/integration).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { validateConfig, ConfigError } from '../../src/control/config_load';
import type { FulcrumConfig } from '../../src/control/config_schema';
import { filledDaemon, syncConfigProblems } from '../../src/ha/sync_config';
import { SyncDaemons, type SyncDataplane } from '../../src/ha/sync_daemons';
import { ChangeRefused } from '../../src/control/state';
import { PersistError, StateFileError } from '../../src/control/state_store';
import type { SyncDaemonInfo, SyncDaemonOptions, SyncTunables } from '../../src/native';

const dataplane = { ports: [
  { name: 'outside', device: 'net_null0' },
  { name: 'inside', device: 'net_null1' },
  { name: 'bare', device: 'net_null2', tap: false as const },
] };

class Recorder implements SyncDataplane {
  running = new Map<string, SyncDaemonOptions>();
  calls: string[] = [];
  tunables?: SyncTunables;
  failNext?: Error;
  syncStart(o: SyncDaemonOptions): void {
    this.calls.push(`start ${o.state} ${o.port}`);
    if (this.failNext) { const e = this.failNext; this.failNext = undefined; throw e; }
    if (this.running.has(o.state)) throw Object.assign(new Error('already running'), { code: 'EEXIST' });
    this.running.set(o.state, o);
  }
  syncStop(state: 'master' | 'backup'): boolean {
    this.calls.push(`stop ${state}`);
    return this.running.delete(state);
  }
  syncDaemons(): SyncDaemonInfo[] {
    return [...this.running.values()].map((o) => ({ ...(o as Required<SyncDaemonOptions>), stats: { sent_conns: 7 } }));
  }
  syncTunables(t: SyncTunables): void { this.tunables = t; }
}

const tmp = () => fs.mkdtempSync(path.join(os.tmpdir(), 'fulcrum-sync-'));
const cfg = (sync?: NonNullable<FulcrumConfig['ha']>['sync']): FulcrumConfig => ({ dataplane, ...(sync ? { ha: { sync } } : {}) });
const refusedWith = (status: number) => (e: unknown) => e instanceof ChangeRefused && e.status === status;

test('a daemon gets the kernel\'s defaults and clamps for its state', () => {
  assert.deepEqual(filledDaemon({ state: 'master', interface: 'outside' }),
    { state: 'master', interface: 'outside', syncId: 0, maxlen: 1472, group: '224.0.0.81', port: 8848, ttl: 1 });
  // A backup reads at least 1024 bytes (ipvsadm --sync-maxlen 1000 lists maxlen=1024); a master
  // may send small messages; neither beyond a UDP datagram.
  assert.equal(filledDaemon({ state: 'backup', interface: 'outside', maxlen: 1000 }).maxlen, 1024);
  assert.equal(filledDaemon({ state: 'master', interface: 'outside', maxlen: 100 }).maxlen, 100);
  assert.equal(filledDaemon({ state: 'master', interface: 'outside', maxlen: 65507 }).maxlen, 65507);
  // A jumbo port: a master still fits one 1500-byte frame, a backup reads the port's MTU.
  assert.equal(filledDaemon({ state: 'master', interface: 'outside' }, 9000).maxlen, 1472);
  assert.equal(filledDaemon({ state: 'backup', interface: 'outside' }, 9000).maxlen, 8972);
});

test('ha.sync is checked against the ports and the kernel\'s rules, each problem by its path', () => {
  assert.deepEqual(syncConfigProblems(cfg({ daemons: [{ state: 'master', interface: 'outside' }, { state: 'backup', interface: 'inside' }] })), []);
  assert.deepEqual(syncConfigProblems(cfg({
    threshold: 50, period: 50,
    daemons: [{ state: 'master', interface: 'eth0' }, { state: 'master', interface: 'bare', group: '10.0.0.1' }],
  })), [
    'ha.sync.threshold: must be less than ha.sync.period (50), or period 0',
    "ha.sync.daemons[0].interface: no port named 'eth0' (ports: outside, inside, bare)",
    'ha.sync.daemons[1].state: a master daemon is listed twice (one master and one backup may run)',
    "ha.sync.daemons[1].interface: port 'bare' has no kernel interface (tap: false); sync datagrams travel through it",
    "ha.sync.daemons[1].group: '10.0.0.1' is not an IPv4 multicast address (224.0.0.0/4)",
  ]);
  assert.deepEqual(syncConfigProblems(cfg({ threshold: 7, period: 0 })), [], 'period 0: only state changes send');
  assert.throws(() => validateConfig(cfg({ daemons: [{ state: 'master', interface: 'eth0' }] })), (e) => e instanceof ConfigError && /no port named 'eth0'/.test(e.message));
  assert.throws(() => validateConfig({ dataplane, ha: { sync: { daemons: [{ state: 'primary', interface: 'outside' }] } } }), ConfigError);
});

test('the first start runs the config file\'s daemons and keeps the list in the state directory', () => {
  const dir = tmp();
  const dp = new Recorder();
  const s = SyncDaemons.open(dp, dir, cfg({ threshold: 5, daemons: [{ state: 'backup', interface: 'inside', syncId: 9 }] }));
  s.startAll();
  assert.deepEqual(dp.tunables, { threshold: 5, period: 50, refreshPeriod: 0, retries: 0, persistMode: false, backupOnly: false });
  assert.deepEqual(s.list().map((d) => [d.state, d.interface, d.syncId, d.stats]), [['backup', 'inside', 9, { sent_conns: 7 }]]);
  assert.deepEqual(JSON.parse(fs.readFileSync(path.join(dir, 'sync.json'), 'utf8')), { version: 1, daemons: [{ state: 'backup', interface: 'inside', syncId: 9 }] });
  // Later starts take the state directory's list, not the file's.
  s.start({ state: 'master', interface: 'outside' });
  s.stopAll();
  const dp2 = new Recorder();
  const again = SyncDaemons.open(dp2, dir, cfg({ daemons: [] }));
  again.startAll();
  assert.deepEqual(again.list().map((d) => d.state), ['master', 'backup']);
});

test('start and stop answer as the kernel: 409 for a second daemon in a state, 404 for none, 400 naming the field', () => {
  const dp = new Recorder();
  const s = SyncDaemons.open(dp, tmp(), cfg());
  s.startAll();
  s.start({ state: 'master', interface: 'outside', syncId: 5 });
  assert.throws(() => s.start({ state: 'master', interface: 'inside' }), refusedWith(409));
  assert.throws(() => s.start({ state: 'backup', interface: 'eth0' }), (e) => refusedWith(400)(e) && /daemon\.interface: no port named 'eth0'/.test((e as Error).message));
  assert.throws(() => s.stop('backup'), refusedWith(404));
  s.stop('master');
  assert.deepEqual(s.list(), []);
  assert.deepEqual(dp.calls, ['start master outside', 'stop master']);
});

test('the dataplane refusing a daemon leaves nothing running and nothing written', () => {
  const dir = tmp();
  const dp = new Recorder();
  const s = SyncDaemons.open(dp, dir, cfg());
  s.startAll();
  const before = fs.readFileSync(path.join(dir, 'sync.json'), 'utf8');
  dp.failNext = new Error('port outside: cannot join 224.0.0.81');
  assert.throws(() => s.start({ state: 'master', interface: 'outside' }), (e) => refusedWith(400)(e) && /cannot join/.test((e as Error).message));
  assert.deepEqual(s.list(), []);
  assert.equal(fs.readFileSync(path.join(dir, 'sync.json'), 'utf8'), before);
});

test('a change that cannot be made durable is undone: refused means nothing changed', () => {
  const dir = tmp();
  const dp = new Recorder();
  const s = SyncDaemons.open(dp, dir, cfg({ daemons: [{ state: 'master', interface: 'outside' }] }));
  s.startAll();
  fs.rmSync(dir, { recursive: true });  // the state directory is gone: every write fails
  assert.throws(() => s.start({ state: 'backup', interface: 'inside' }), PersistError);
  assert.deepEqual([...dp.running.keys()], ['master'], 'the backup that could not be persisted was stopped');
  assert.throws(() => s.stop('master'), PersistError);
  assert.deepEqual([...dp.running.keys()], ['master'], 'the master that could not be stopped durably runs again');
  assert.throws(() => s.replace(cfg({ daemons: [{ state: 'backup', interface: 'inside' }] })), PersistError);
  assert.deepEqual([...dp.running.values()].map((o) => `${o.state} ${o.port}`), ['master outside'], 'a reload that could not persist is undone');
});

test('a reload replaces what differs and leaves the rest running', () => {
  const dp = new Recorder();
  const s = SyncDaemons.open(dp, tmp(), cfg({ daemons: [{ state: 'master', interface: 'outside' }, { state: 'backup', interface: 'inside' }] }));
  s.startAll();
  dp.calls = [];
  s.replace(cfg({ period: 100, daemons: [{ state: 'master', interface: 'outside' }, { state: 'backup', interface: 'inside', syncId: 3 }] }));
  assert.deepEqual(dp.calls, ['stop backup', 'start backup inside']);
  assert.equal(dp.tunables?.period, 100);
});

test('a sync.json that is not ours is refused naming the file and the problem', () => {
  for (const [text, why] of [['{}', /daemons|version/], ['null', /not a sync daemon list/], ['{"version":1,"daemons":[{"state":"x"}]', /not JSON/],
    ['{"version":2,"daemons":[]}', /version/]] as const) {
    const dir = tmp();
    fs.writeFileSync(path.join(dir, 'sync.json'), text);
    assert.throws(() => SyncDaemons.open(new Recorder(), dir, cfg()), (e) => e instanceof StateFileError && e.message.startsWith(path.join(dir, 'sync.json')) && why.test(e.message), text);
  }
});
