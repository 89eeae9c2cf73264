// ShardedMap: a Map from strings whose table grows a shard at a time.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ShardedMap } from '../../src/control/sharded_map';

test('holds what a Map holds through any mix of sets, overwrites and deletes', () => {
  const m = new ShardedMap<number>();
  const ref = new Map<string, number>();
  let x = 7;
  for (let i = 0; i < 20_000; i++) {
    x = (x * 1103515245 + 12345) >>> 0;
    const key = `d ${x % 5000} 198.19.${x % 256}.${(x >> 8) % 256}:8080`;
    if (x % 3 === 0) assert.equal(m.delete(key), ref.delete(key));
    else { m.set(key, i); ref.set(key, i); }
  }
  assert.equal(m.size, ref.size);
  for (const [k, v] of ref) { assert.equal(m.get(k), v); assert.ok(m.has(k)); }
  assert.equal(m.get('absent'), undefined);
  assert.deepEqual([...m.keys()].sort(), [...ref.keys()].sort());
  assert.deepEqual([...m.values()].sort((a, b) => a - b), [...ref.values()].sort((a, b) => a - b));
  assert.ok(new Set([...m.keys()].map((k) => k)).size === m.size, 'each key once');
  m.clear();
  assert.equal(m.size, 0);
  assert.deepEqual([...m.keys()], []);
});
