// Large control-plane work (a 10,000-service restore: its check, native build, journal record,
// health update, the rate estimator's tick) runs in slices, so the event loop keeps serving the
// API, metrics and health checks in between. One slice length, one way to yield, for all of it.

/** How long a slice of large work runs before it lets the event loop serve others. */
export const SLICE_MS = 5;

/** Yields to the event loop when the current slice has run SLICE_MS. */
export async function breathe(slice: { start: number }): Promise<void> {
  if (performance.now() - slice.start <= SLICE_MS) return;
  await new Promise<void>((r) => setImmediate(r));
  slice.start = performance.now();
}
