// The director's log lines: JSON with one `name` key, ISO timestamps, the part of the server
// as `component`, and only what the chosen level lets through.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { componentLogger, createLogger, isLogLevel } from '../../src/server/logger';

function capture() {
  const lines: string[] = [];
  const stream = new Writable({ write(chunk, _enc, done) { lines.push(...String(chunk).split('\n').filter(Boolean)); done(); } });
  return { lines, stream };
}

test('a line has one name, an ISO time, and the component of a child', () => {
  const { lines, stream } = capture();
  const log = createLogger('info', stream);
  componentLogger(log, 'api').info({ port: 9390 }, 'listening');
  assert.equal(lines.length, 1);
  assert.equal(lines[0].match(/"name":/g)?.length, 1, lines[0]);
  const o = JSON.parse(lines[0]);
  assert.equal(o.name, 'fulcrum');
  assert.equal(o.component, 'api');
  assert.match(o.time, /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/);
  assert.equal(o.msg, 'listening');
});

test('the level chooses what is written', () => {
  const info = capture();
  createLogger('info', info.stream).debug('hidden');
  assert.deepEqual(info.lines, []);
  const debug = capture();
  createLogger('debug', debug.stream).debug('shown');
  assert.equal(JSON.parse(debug.lines[0]).msg, 'shown');
  const warn = capture();
  const w = createLogger('warn', warn.stream);
  w.info('hidden');
  w.warn('shown');
  assert.deepEqual(warn.lines.map((l) => JSON.parse(l).msg), ['shown']);
  assert.ok(isLogLevel('trace') && isLogLevel('silent') && !isLogLevel('loud'));
});
