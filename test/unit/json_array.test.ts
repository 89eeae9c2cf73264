// A large JSON array is written as it is read, in slices: the document is the one
// JSON.stringify would make, and other work runs between its slices.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { jsonArrayStream, jsonStringPieces } from '../../src/api/json_array';

async function read(s: NodeJS.ReadableStream): Promise<{ text: string; chunks: number }> {
  let text = '';
  let chunks = 0;
  for await (const c of s) { text += String(c); chunks++; }
  return { text, chunks };
}

test('the array, inside its document, as JSON.stringify writes it (empty too)', async () => {
  const items = [{ a: 1 }, { a: 'x"y' }, { a: null }];
  assert.equal((await read(jsonArrayStream(items, (x) => x))).text, JSON.stringify(items));
  assert.equal((await read(jsonArrayStream([], (x) => x))).text, '[]');
  const doc = (await read(jsonArrayStream([1, 2], (x) => ({ n: x }), '{"total":3,"list":', '}'))).text;
  assert.deepEqual(JSON.parse(doc), { total: 3, list: [{ n: 1 }, { n: 2 }] });
});

test('a large array lets the event loop run between its slices', async () => {
  const items = Array.from({ length: 200_000 }, (_, i) => ({ id: i, name: `service ${i}`, servers: [i, i + 1, i + 2] }));
  let ranDuring = false;
  let done = false;
  setImmediate(() => { ranDuring = !done; });
  const { text, chunks } = await read(jsonArrayStream(items, (x) => x));
  done = true;
  assert.ok(ranDuring, 'an immediate queued before the read ran before it ended');
  assert.ok(chunks > 1);
  assert.equal(JSON.parse(text).length, items.length);
});

test('a long string is the JSON text JSON.stringify writes, in pieces that never split a character', async () => {
  const line = 'TCP  198.18.0.1:80 wlc \u00e9 "q" \\ \t\ud83d\ude00\n';
  const text = line.repeat(20_000) + 'no newline at the end \ud83d\ude00';
  let out = '';
  let pieces = 0;
  for await (const p of jsonStringPieces(text)) { out += p; pieces++; }
  assert.equal(out, JSON.stringify(text));
  assert.ok(pieces > 3);
  // a piece that cannot end at a newline still keeps a surrogate pair whole
  const pairs = '\ud83d\ude00'.repeat(70_000);
  let joined = '';
  for await (const p of jsonStringPieces(pairs)) joined += p;
  assert.equal(JSON.parse(joined), pairs);
});

test('a long string given as its pieces is the same JSON text as the string whole, a pair split between pieces included', async () => {
  const line = 'TCP  198.18.0.1:80 wlc \u00e9 "q" \\ \t\ud83d\ude00\n';
  const pieces = [line.repeat(5_000), line.repeat(3_000) + '\ud83d', '\ude00' + line.repeat(4_000), '', 'tail'];
  let out = '';
  for await (const p of jsonStringPieces(pieces)) out += p;
  assert.equal(JSON.parse(out), pieces.join(''));
  let whole = '';
  for await (const p of jsonStringPieces(pieces.join(''))) whole += p;
  assert.equal(JSON.parse(whole), JSON.parse(out));
});
