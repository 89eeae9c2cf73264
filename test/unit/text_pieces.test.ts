import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PIECE_CHARS, TextPieces } from '../../src/control/text_pieces';

test('text becomes a piece once it holds PIECE_CHARS, and the rest only when all is taken', () => {
  const t = new TextPieces();
  assert.equal(t.empty, true);
  const item = 'é'.repeat(1000);  // two bytes each in UTF-8: pieces count characters
  for (let i = 0; i < 100; i++) t.add(item);
  assert.equal(t.empty, false);
  const itemsAPiece = Math.ceil(PIECE_CHARS / item.length);  // 66: a piece is made by the add that fills it
  const some = t.take(false);
  assert.equal(some.length, Math.floor(100 / itemsAPiece), 'full pieces only');
  for (const b of some) assert.equal(b.toString('utf8'), item.repeat(itemsAPiece));
  assert.deepEqual(t.take(false), [], 'what was taken is not handed over again');
  const rest = t.take();
  assert.equal(Buffer.concat([...some, ...rest]).toString('utf8'), item.repeat(100));
  assert.deepEqual(t.take(), [], 'nothing left');
});

test('a piece ends between two added strings: a long one is never cut', () => {
  const t = new TextPieces();
  const long = 'x'.repeat(PIECE_CHARS * 3 + 7);
  t.add('[');
  t.add(long);
  t.add(']');
  const pieces = t.take();
  assert.deepEqual(pieces.map((b) => b.toString()), ['[' + long, ']']);
});
