// A change is applied and persisted at once; whichever side fails, the other is undone and
// the failure is what the caller gets. Acknowledged means both; refused means neither.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { applyDurably, type ChangeSides } from '../../src/control/apply_durably';

/** Sides that record what happened, each failing when told to. */
function sides(fail: { apply?: boolean; persist?: boolean; retract?: boolean; revert?: boolean } = {}) {
  const events: string[] = [];
  let releaseApply!: () => void;
  const applyGate = new Promise<void>((r) => { releaseApply = r; });
  let persistDone!: () => void;
  const persistEnded = new Promise<void>((r) => { persistDone = r; });
  const s: ChangeSides = {
    apply: async () => {
      events.push('apply started');
      await applyGate;
      if (fail.apply) throw new Error('not confirmed');
      events.push('applied');
      return async () => {
        if (fail.revert) throw new Error('revert failed');
        events.push('reverted');
      };
    },
    persist: async () => {
      events.push('persist started');
      await new Promise((r) => setImmediate(r));
      persistDone();
      if (fail.persist) throw new Error('ENOSPC');
      events.push('persisted');
      return 7;
    },
    retract: async (seq) => {
      if (fail.retract) throw new Error('EROFS');
      events.push(`retracted ${seq}`);
    },
    stranded: (side, err) => events.push(`stranded ${side}: ${err.message}`),
  };
  return { s, events, releaseApply, persistEnded };
}

test('both sides run at once: the journal is written while the workers confirm', { timeout: 5000 }, async () => {
  const { s, events, releaseApply, persistEnded } = sides();
  const done = applyDurably(s);
  await persistEnded;
  await new Promise((r) => setImmediate(r));
  assert.deepEqual(events, ['persist started', 'apply started', 'persisted'], 'persisted while the apply waits for the workers');
  releaseApply();
  await done;
  assert.deepEqual(events.slice(3), ['applied']);
});

test('an apply the workers refuse takes the journal record back; the client gets the refusal', async () => {
  const { s, events, releaseApply } = sides({ apply: true });
  releaseApply();
  await assert.rejects(applyDurably(s), /not confirmed/);
  assert.ok(events.includes('retracted 7'));
  assert.ok(!events.includes('reverted'));
});

test('a persist that fails puts the dataplane back; the client gets the disk error', async () => {
  const { s, events, releaseApply } = sides({ persist: true });
  releaseApply();
  await assert.rejects(applyDurably(s), /ENOSPC/);
  assert.deepEqual(events.filter((e) => !e.endsWith('started')), ['applied', 'reverted']);
});

test('both failing: nothing to undo on either side, the refusal is the answer', async () => {
  const { s, events, releaseApply } = sides({ apply: true, persist: true });
  releaseApply();
  await assert.rejects(applyDurably(s), /not confirmed/);
  assert.deepEqual(events.filter((e) => !e.endsWith('started')), []);
});

test('a way back that fails is reported as stranded, and the first failure is still the answer', async () => {
  const a = sides({ apply: true, retract: true });
  a.releaseApply();
  await assert.rejects(applyDurably(a.s), /not confirmed/);
  assert.ok(a.events.includes('stranded journal: EROFS'));
  const b = sides({ persist: true, revert: true });
  b.releaseApply();
  await assert.rejects(applyDurably(b.s), /ENOSPC/);
  assert.ok(b.events.includes('stranded dataplane: revert failed'));
});
