// The operator's drain, kept in the state directory (src/ha/drain_state.ts) and written before
// PUT /v1/ha/drain acknowledges it: a restart keeps it, a directory that cannot take it
// refuses the drain and changes nothing, and a file that is not ours is named, not guessed at.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Fastify from 'fastify';
import { readDrain, writeDrain } from '../../src/ha/drain_state';
import { haRoutes } from '../../src/api/routes/ha';
import { StateFileError } from '../../src/control/state_store';
import type { Vrrp } from '../../src/ha/vrrp';
import type { Daemon } from '../../src/control/daemon';

const tmpDir = () => fs.mkdtempSync(path.join(os.tmpdir(), 'fulcrum-drain-'));

test('never drained reads as not drained; a drain written is read back, and so is its undo', () => {
  const dir = tmpDir();
  assert.equal(readDrain(dir), false);
  writeDrain(dir, true);
  assert.equal(readDrain(dir), true);
  writeDrain(dir, false);
  assert.equal(readDrain(dir), false);
  assert.deepEqual(fs.readdirSync(dir), ['drain.json'], 'no temporary file left');
});

test('a drain file that is not ours is refused, naming the file', () => {
  const dir = tmpDir();
  const file = path.join(dir, 'drain.json');
  for (const text of ['', '{', 'null', '{}', '[]', '{"version":2,"drained":true}', '{"version":1,"drained":"yes"}', '{"version":1,"drained":true,"x":1}']) {
    fs.writeFileSync(file, text);
    assert.throws(() => readDrain(dir), (e: Error) => e instanceof StateFileError && e.message.startsWith(file), text);
  }
});

function fakeVrrp() {
  const told: boolean[] = [];
  return { told, vrrp: { setDrained: (d: boolean) => { told.push(d); }, status: () => ({ state: 'BACKUP', owner: false }) } as unknown as Vrrp };
}

async function api(dir: string, vrrp: Vrrp) {
  const app = Fastify();
  await app.register(haRoutes({ state: { dir } } as unknown as Pick<Daemon, 'state'>, vrrp));
  await app.ready();
  return app;
}

test('PUT /v1/ha/drain writes the drain before it takes effect', async () => {
  const dir = tmpDir();
  const { told, vrrp } = fakeVrrp();
  const app = await api(dir, vrrp);
  const r = await app.inject({ method: 'PUT', url: '/v1/ha/drain', payload: { drained: true } });
  assert.equal(r.statusCode, 200, r.body);
  assert.deepEqual(told, [true]);
  assert.equal(readDrain(dir), true);
  await app.close();
});

test('a drain the state directory cannot take is refused and changes nothing', async () => {
  const dir = path.join(tmpDir(), 'gone');  // removed under the director: ENOENT, as a lost mount
  const { told, vrrp } = fakeVrrp();
  const app = await api(dir, vrrp);
  const r = await app.inject({ method: 'PUT', url: '/v1/ha/drain', payload: { drained: true } });
  assert.notEqual(r.statusCode, 200);
  assert.match(r.body, /drain\.json/);
  assert.deepEqual(told, [], 'the director was not drained');
  await app.close();
});
