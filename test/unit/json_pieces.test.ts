// A JSON body read as it arrives: wherever its text is cut, the document is what JSON.parse
// makes of it whole, its long strings come back as pieces that join to the string, and
// what is not JSON (or reaches a prototype) is refused as 400.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { JsonPieces } from '../../src/api/json_pieces';
import { ApiError } from '../../src/api/errors';

/** The text fed in these pieces; the document with its long strings joined back. */
function read(pieces: string[]): unknown {
  const r = new JsonPieces();
  for (const p of pieces) r.piece(p);
  const doc = r.end() as Record<string, unknown>;
  return JSON.parse(JSON.stringify(doc, (_k, v: unknown) => (typeof v === 'string' ? r.text(v).join('') : v)));
}

const long = Array.from({ length: 30000 }, (_, i) => `-a -t 10.0.0.1:80 -r 10.0.${i >> 8}.${i & 255}:80 "é" \\ ✓ 😀\u0001\n`).join('');

test('a document cut anywhere reads as JSON.parse reads it whole; a long string comes back as pieces', () => {
  const docs = [{ argv: ['-R'], program: 'fvsadm', stdin: long }, { argv: ['-a', 'x"y\\z'], stdin: '' }, { n: [1, 2.5, null, true], s: 'ü\u2028' }];
  for (const doc of docs) {
    const text = JSON.stringify(doc);
    const cuts = text.length < 200 ? Array.from({ length: text.length + 1 }, (_, i) => i) : Array.from({ length: 400 }, (_, i) => Math.floor((i * 7919) % text.length));
    for (const a of cuts) {
      const b = Math.min(text.length, a + 65536 + (a % 13));
      assert.deepEqual(read([text.slice(0, a), text.slice(a, b), text.slice(b)]), doc, `cut at ${a} and ${b}`);
    }
  }
  const r = new JsonPieces();
  const text = JSON.stringify({ stdin: long });
  for (let i = 0; i < text.length; i += 1000) r.piece(text.slice(i, i + 1000));
  const doc = r.end() as { stdin: string };
  assert.ok(r.text(doc.stdin).length > 1, 'kept as pieces');
  assert.equal(r.text(doc.stdin).join(''), long);
  assert.deepEqual(r.text('short'), ['short']);
});

test('what is not JSON, or names a prototype, is refused as 400', () => {
  for (const bad of ['{"a":', '{"a":"b', '{"a":"\\x"}', '{"a":1,}', '', '{"__proto__":{"x":1}}', '{"constructor":{"prototype":{}}}']) {
    const r = new JsonPieces();
    r.piece(bad);
    assert.throws(() => r.end(), (e: unknown) => e instanceof ApiError && e.statusCode === 400, bad);
  }
  const r = new JsonPieces();
  assert.throws(() => r.piece(`{"s":"${'a'.repeat(70000)}\u0001"}`), (e: unknown) => e instanceof ApiError && e.statusCode === 400, 'a raw control character in a long string');
});
