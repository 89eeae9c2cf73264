// Large control-plane work (a 10,000-service restore: its check, native build, journal record,
// health update, the rate estimator's tick) runs in slices, so the event loop keeps serving the
// API, metrics and health checks in between. One slice length, one way to yield, for all of it.

/** How long a slice of large work runs before it lets the event loop serve others. A turn
 * holds more than its slice on this kind of machine (a young-generation collection, a
 * compiler thread taking the only control CPU): with 5 ms slices a 10,000-service restore's
 * longest turn was 30-36 ms, with 2 ms 21-25 ms, the restore no slower (2.4-2.7 s). */
export const SLICE_MS = 2;
/** The same for periodic work nobody waits for (the rate estimator's tick over every real
 * server): an operator's change that arrives meanwhile waits behind a slice of it at each of
 * its own turns, so these slices are shorter. */
export const BACKGROUND_SLICE_MS = 1;

// Work that has yielded waits its turn here, and one waiter resumes per turn of the event loop:
// however many large jobs run at once (a restore's apply, its journal record, the health
// monitor's update, the rate estimator's tick), a turn holds one slice of them, not one slice
// of each (each on its own setImmediate, they all resumed in the same turn).
const waiting: Array<() => void> = [];
let pumping = false;

function pump(): void {
  waiting.shift()?.();
  if (waiting.length) setImmediate(pump);
  else pumping = false;
}

/** Yields to the event loop when the current slice has run `ms`; resumes in its turn. */
export async function breathe(slice: { start: number }, ms = SLICE_MS): Promise<void> {
  if (performance.now() - slice.start <= ms) return;
  await new Promise<void>((resume) => {
    waiting.push(resume);
    if (!pumping) {
      pumping = true;
      setImmediate(pump);
    }
  });
  slice.start = performance.now();
}
