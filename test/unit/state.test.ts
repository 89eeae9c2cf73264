// The desired state and its files, as specifications: a draft touches only what it changes
// and can be rolled back op by op; a check looks at what was touched, refuses what only the
// config file may carry, and keeps the table-wide limits; a persisted change survives a
// reopen exactly; a torn last journal line (a crash mid-append) is dropped, anything else that
// is not ours is refused with a message naming the file; one director per state directory.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { validateConfig } from '../../src/control/config_load';
import type { ServiceConfig } from '../../src/control/config_schema';
import { ChangeRefused, DesiredState } from '../../src/control/state';
import { StateFileError, StateStore } from '../../src/control/state_store';

const fileCfg = validateConfig({
  dataplane: { ports: [{ name: 'p0', device: 'net_null0' }], maxServices: 8, maxRealServers: 16 },
});
const svc = (n: number, servers = 1): ServiceConfig => ({
  protocol: 'tcp', address: `198.18.0.${n}`, port: 80, scheduler: 'rr',
  realServers: Array.from({ length: servers }, (_, i) => ({ address: `198.18.1.${i + 1}`, port: 8080, method: 'nat' as const, weight: 1 })),
});
const id = (n: number) => `tcp:198.18.0.${n}:80`;
const tmpDir = () => fs.mkdtempSync(path.join(os.tmpdir(), 'fulcrum-state-'));

function open(dir: string, seed: ServiceConfig[] = [], compactMinBytes?: number) {
  return DesiredState.open(fileCfg, seed.length ? { services: seed } : {}, dir, (e) => { throw e; },
    compactMinBytes !== undefined ? { compactMinBytes } : {});
}

/** check → persist → commit, as the daemon does (without a dataplane). */
async function change(st: DesiredState, edit: (d: ReturnType<DesiredState['draft']>) => void) {
  const d = st.draft();
  edit(d);
  const c = await st.check(d);
  await st.persist(c);
  st.commit(c);
  return c;
}

test('a draft records only what it touches, in order, and rolls back to a mark', async () => {
  const { state } = open(tmpDir(), [svc(1), svc(2)]);
  const d = state.draft();
  d.put(id(3), svc(3));
  const m = d.mark();
  d.delete(id(1));
  d.put(id(4), svc(4));
  assert.deepEqual([...d.ids()], [id(2), id(3), id(4)]);
  d.rollback(m);
  assert.deepEqual([...d.ids()], [id(1), id(2), id(3)]);
  const c = await state.check(d);
  assert.deepEqual(c.put.map((s) => s.address), ['198.18.0.3']);
  assert.deepEqual(c.del, []);
  state.close();
});

test('marks nest: keep() ends one without undoing, an outer rollback undoes what inner marks kept', async () => {
  const { state } = open(tmpDir(), [svc(1), svc(2)]);
  const d = state.draft();
  d.put(id(3), svc(3));
  const outer = d.mark();
  const inner = d.mark();
  d.delete(id(1));
  d.keep(inner);
  const inner2 = d.mark();
  d.put(id(4), svc(4));
  d.rollback(inner2);
  assert.deepEqual([...d.ids()], [id(2), id(3)]);
  d.rollback(outer);
  assert.deepEqual([...d.ids()], [id(1), id(2), id(3)]);
  // With no mark open, writes are kept; a later mark undoes only what follows it.
  d.clear();
  const m = d.mark();
  d.put(id(5), svc(5));
  d.rollback(m);
  assert.deepEqual([...d.ids()], []);
  const c = await state.check(d);
  assert.equal(c.clear, true);
  assert.deepEqual(c.put, []);
  state.close();
});

test('a service deleted and added again in one change goes last, as ipvsadm -D then -A', async () => {
  const dir = tmpDir();
  const { state } = open(dir, [svc(1), svc(2)]);
  await change(state, (d) => { d.delete(id(1)); d.put(id(1), svc(1, 2)); });
  assert.deepEqual([...state.ids()], [id(2), id(1)]);
  state.close();
  const again = open(dir).state;
  assert.deepEqual([...again.ids()], [id(2), id(1)]);
  assert.equal(again.service(id(1))!.realServers!.length, 2);
  again.close();
});

test('a check refuses command checks anywhere, bad services by path, and the limits', async () => {
  const { state } = open(tmpDir());
  const d = state.draft();
  d.put(id(1), { ...svc(1), realServers: [{ address: '198.18.1.1', method: 'nat', healthChecks: [{ type: 'command', command: ['/bin/sh', '-c', 'id'] }] }] });
  d.put(id(2), { ...svc(2), scheduler: 'nope' as 'rr' });
  await assert.rejects(() => state.check(d), (e: ChangeRefused) => {
    assert.ok(e.problems.some((p) => p.startsWith(`services[${id(1)}].realServers[0].healthChecks[0]: command checks can only come from the config file`)), e.problems.join('\n'));
    assert.ok(e.problems.some((p) => p.startsWith(`services[${id(2)}].scheduler`)), e.problems.join('\n'));
    return true;
  });
  const big = state.draft();
  for (let i = 1; i <= 9; i++) big.put(id(i), svc(i, 0));
  await assert.rejects(() => state.check(big), /9 services, more than dataplane.maxServices \(8\)/);
  const many = state.draft();
  many.put(id(1), svc(1, 17));
  await assert.rejects(() => state.check(many), /17 real servers, more than dataplane.maxRealServers \(16\)/);
  state.close();
});

test('DR and TUN real servers are stored at the service port; two at one address are one', async () => {
  const { state } = open(tmpDir());
  const c = await change(state, (d) => d.put(id(1), { ...svc(1, 0), realServers: [{ address: '198.18.1.9', port: 9999, method: 'dr' }] }));
  assert.equal(c.put[0].realServers![0].port, 80);
  const d = state.draft();
  d.put(id(2), { ...svc(2, 0), realServers: [{ address: '198.18.1.9', port: 9999, method: 'dr' }, { address: '198.18.1.9', port: 8888, method: 'tun' }] });
  await assert.rejects(() => state.check(d), /real server 198\.18\.1\.9:80 already exists/);
  state.close();
});

test('every acknowledged change survives a reopen; the journal is replayed in order', async () => {
  const dir = tmpDir();
  const { state } = open(dir, [svc(1)]);
  await change(state, (d) => d.put(id(2), svc(2)));
  await change(state, (d) => d.put(id(1), { ...svc(1), realServers: [{ ...svc(1).realServers![0], weight: 7 }] }));
  await change(state, (d) => d.setTimeouts({ tcp: 10, tcpfin: 20, udp: 30 }));
  await change(state, (d) => d.delete(id(2)));
  state.close();
  const { state: again, restored } = open(dir, [svc(5)]);
  assert.equal(restored, true);
  assert.deepEqual([...again.ids()], [id(1)]);
  assert.equal(again.service(id(1))!.realServers![0].weight, 7);
  assert.deepEqual(again.timeouts, { tcp: 10, tcpfin: 20, udp: 30 });
  again.close();
});

test('a torn last journal line was never acknowledged: it is dropped; a damaged middle line is refused', async () => {
  const dir = tmpDir();
  const { state } = open(dir);
  await change(state, (d) => d.put(id(1), svc(1)));
  state.close();
  const journal = path.join(dir, 'journal.jsonl');
  const good = fs.readFileSync(journal, 'utf8');
  fs.appendFileSync(journal, '{"seq":2,"put":[{"protocol":"tcp","addr');
  const { state: again } = open(dir);
  assert.deepEqual([...again.ids()], [id(1)]);
  again.close();
  // Start-up folded the journal into the base: one file to read next time.
  assert.equal(fs.readFileSync(journal, 'utf8'), '');
  assert.deepEqual(JSON.parse(fs.readFileSync(path.join(dir, 'state.json'), 'utf8')).dynamic.services.map((s: ServiceConfig) => s.address), ['198.18.0.1']);
  fs.writeFileSync(path.join(dir, 'state.json'), JSON.stringify({ version: 2, seq: 0, dynamic: {} }));
  fs.writeFileSync(journal, 'garbage\n' + good);
  assert.throws(() => open(dir), (e: Error) => e instanceof StateFileError && /journal\.jsonl: line 1 is not a journal record/.test(e.message));
});

test('a state file that is not ours is refused, naming the file and what is wrong', async () => {
  const cases: Array<[string, RegExp]> = [
    ['{}', /state\.json: not a Fulcrum state file \(no version\)/],
    ['null', /state\.json: not a Fulcrum state file .*found null/],
    ['{"version":7,"dynamic":{}}', /state\.json: version 7 is not one this director reads/],
    ['{"version":2,"seq":0,"dyn', /state\.json: not valid JSON/],
    ['{"version":2,"seq":0,"dynamic":{"services":5}}', /state\.json: dynamic\.services: must be an array/],
    ['{"version":2,"seq":0,"dynamic":{"ports":[]}}', /unknown section 'ports'/],
  ];
  for (const [text, want] of cases) {
    const dir = tmpDir();
    fs.writeFileSync(path.join(dir, 'state.json'), text);
    assert.throws(() => open(dir), (e: Error) => e instanceof StateFileError && want.test(e.message), text);
  }
});

test('a state directory holding a command check is refused at start', async () => {
  const dir = tmpDir();
  fs.writeFileSync(path.join(dir, 'state.json'), JSON.stringify({ version: 2, seq: 0, dynamic: {
    services: [{ ...svc(1), healthChecks: [{ type: 'command', command: ['/bin/true'] }] }] } }));
  assert.throws(() => open(dir), /holds what only the config file may carry:\n {2}services\[0\]\.healthChecks\[0\]/);
});

test('one director per state directory: a live holder is named, a dead one is taken over', async () => {
  const dir = tmpDir();
  const { state } = open(dir);
  assert.throws(() => open(dir), new RegExp(`in use by another director \\(pid ${process.pid}`));
  state.close();
  const child = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 30000)']);
  await new Promise((r) => child.once('spawn', r));
  fs.writeFileSync(path.join(dir, 'lock'), `${child.pid}\n`);
  assert.throws(() => open(dir), new RegExp(`in use by another director \\(pid ${child.pid}`));
  child.kill('SIGKILL');
  await new Promise((r) => child.once('exit', r));
  const { state: again } = open(dir);
  assert.equal(fs.readFileSync(path.join(dir, 'lock'), 'utf8').trim(), String(process.pid));
  again.close();
  assert.equal(fs.existsSync(path.join(dir, 'lock')), false, 'the lock goes with the director');
});

test('leftover temporary files of a crashed director are removed', async () => {
  const dir = tmpDir();
  fs.writeFileSync(path.join(dir, 'state.json.tmp-999999'), 'half');
  const { state } = open(dir);
  assert.deepEqual(fs.readdirSync(dir).filter((f) => f.includes('.tmp-')), []);
  state.close();
});

test('a compaction writes a new base and keeps only later changes in the journal', async () => {
  const dir = tmpDir();
  const { state } = open(dir, [], 512);
  for (let i = 1; i <= 8; i++) await change(state, (d) => d.put(id(i), svc(i, 2)));
  await state.settled();
  // Changes made while (or after) it ran are kept too.
  await change(state, (d) => d.delete(id(3)));
  await state.settled();
  const base = JSON.parse(fs.readFileSync(path.join(dir, 'state.json'), 'utf8'));
  assert.equal(base.version, 2);
  assert.ok(base.seq > 0, 'the base covers journal records');
  state.close();
  const { state: again } = open(dir);
  assert.deepEqual([...again.ids()], [1, 2, 4, 5, 6, 7, 8].map(id));
  again.close();
});

test('a retracted change (persisted, then refused by the dataplane) is absent after a reopen; the next change takes its seq', async () => {
  const dir = tmpDir();
  const { state } = open(dir);
  await change(state, (d) => d.put(id(1), svc(1)));
  const d = state.draft();
  d.put(id(2), svc(2));
  const c = await state.check(d);
  const seq = await state.persist(c);
  await assert.rejects(state.retract(seq - 1), /is the last one appended/, 'only the last record can be taken back');
  await state.retract(seq);
  await change(state, (x) => x.put(id(3), svc(3)));
  state.close();
  const lines = fs.readFileSync(path.join(dir, 'journal.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
  assert.deepEqual(lines.map((l) => l.seq), [1, 2]);
  const { state: again } = open(dir);
  assert.deepEqual([...again.ids()], [id(1), id(3)]);
  again.close();
});

test('appends called together are written one at a time, in the order called, each with its own seq', async () => {
  const dir = tmpDir();
  const { store } = StateStore.open(dir);
  const seqs = await Promise.all([1, 2, 3].map((n) => store.append(`"timeouts":{"tcp":${n},"tcpfin":${n},"udp":${n}}`)));
  assert.deepEqual(seqs, [1, 2, 3]);
  const lines = fs.readFileSync(path.join(dir, 'journal.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
  assert.deepEqual(lines.map((l) => [l.seq, l.timeouts.tcp]), [[1, 1], [2, 2], [3, 3]]);
  store.close();
});
