// An operator's change is acknowledged once it is live in every worker AND durable. The two do
// not depend on each other, so they run at once: a change waits for the slower of the
// workers' confirmation and the journal's fdatasync, not for their sum (on a busy machine each
// spikes to several ms on its own). Each side has its way back, so the failure of either
// leaves nothing of the change anywhere: a refused apply takes the journal record back, a
// failed persist puts the dataplane back. Refused means absent; acknowledged means both.

export interface ChangeSides {
  /** Makes the change live; resolves with the way back once every worker runs it. A refused
   * apply changes nothing in the dataplane. */
  apply(): Promise<() => Promise<void>>;
  /** Makes the change durable; resolves with its journal seq. A failed persist leaves nothing. */
  persist(): Promise<number>;
  /** Takes a persisted record back. */
  retract(seq: number): Promise<void>;
  /** A way back failed after the other side failed: the change is half made (logged; the
   * caller's error still goes to the client). */
  stranded(side: 'dataplane' | 'journal', err: Error): void;
}

/** Applies and persists at once; throws the first side's failure after undoing the other. */
export async function applyDurably(sides: ChangeSides): Promise<void> {
  const persisted = sides.persist().then((seq) => ({ seq }), (error: Error) => ({ error }));
  let revert: () => Promise<void>;
  try {
    revert = await sides.apply();
  } catch (e) {
    const p = await persisted;
    if ('seq' in p) {
      try {
        await sides.retract(p.seq);
      } catch (r) {
        sides.stranded('journal', r as Error);
      }
    }
    throw e;
  }
  const p = await persisted;
  if ('error' in p) {
    try {
      await revert();
    } catch (r) {
      sides.stranded('dataplane', r as Error);
    }
    throw p.error;
  }
}
