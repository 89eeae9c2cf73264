// DPDK's log in the director's: its levels mapped to ours, harmless notices at debug.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { drainDpdkLog, levelOf } from '../../src/server/dpdk_log';
import { createLogger } from '../../src/server/logger';

test('DPDK levels map to the logger\'s; a harmless notice is debug whatever its level', () => {
  assert.deepEqual([1, 2, 3, 4, 5, 6, 7, 8].map((l) => levelOf(l, false)), ['error', 'error', 'error', 'error', 'warn', 'info', 'info', 'debug']);
  assert.equal(levelOf(4, true), 'debug');
});

test('drained lines are written once each, and dropped ones are counted', () => {
  const lines: Array<{ level: number; msg: string; dropped?: number }> = [];
  const sink = new Writable({ write(chunk, _e, cb) { lines.push(JSON.parse(String(chunk))); cb(); } });
  const log = createLogger('debug', sink);
  let calls = 0;
  const addon = { takeLog: () => (calls++ ? { lines: [], dropped: 0 } : {
    lines: [{ level: 7, text: 'EAL: Detected CPU lcores: 2', harmless: false }, { level: 4, text: 'tap: Could not add multiq qdisc', harmless: true },
      { level: 4, text: 'port: link failed', harmless: false }], dropped: 3 }) };
  drainDpdkLog(addon, log);
  drainDpdkLog(addon, log);
  assert.deepEqual(lines.map((l) => [l.level, l.msg]), [[30, 'EAL: Detected CPU lcores: 2'], [20, 'tap: Could not add multiq qdisc'],
    [50, 'port: link failed'], [40, 'DPDK log lines dropped (too many at once)']]);
  assert.equal(lines[3].dropped, 3);
});
