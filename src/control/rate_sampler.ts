// The rate estimator's tick over the running table: which estimator samples which counters.
// The dataplane gives counters as flat arrays by native id (5 numbers a service, 8 a real
// server); the estimators are kept by name ("s <service>", "d <service> <address:port>"), so
// a rate survives a change that gives its server a new native id. The map between the two is
// two Int32Arrays by native id, redone for a service only when its running form is a new
// object (a change touched it): walking 10,000 running services and their 100,000 real
// servers' objects every 2 s took 15-50 ms of the event loop; the flat arrays take a few.
import { hostPort } from './address';
import type { NativeService } from './native_config';
import type { EstimatorHandle, RateEstimator } from './rates';
import { BACKGROUND_SLICE_MS, breathe } from './slices';

const NONE = -1;
const SVC_FIELDS = 5;
const DEST_FIELDS = 8;

export class RateSampler {
  /** Native service id → its estimator (NONE: no running service). */
  private svc = new Int32Array(0);
  /** Native real-server id → its estimator. */
  private dest = new Int32Array(0);
  /** Per native service id: the running form the entries were made from... */
  private madeFrom: Array<NativeService | undefined> = [];
  /** ...and the (real-server id, estimator) pairs it set, to be cleared only while still its. */
  private destPairs: Array<Int32Array | undefined> = [];
  private lastSeen = new Uint32Array(0);
  private tick = 0;
  private busy = false;

  constructor(private readonly rates: RateEstimator) {}

  /** One 2-second tick: every running service and real server samples its counters, then the
   * estimators of what no longer runs are swept. A tick still running skips the next. */
  async sample(running: Iterable<[string, NativeService]>, sv: Float64Array, dv: Float64Array): Promise<void> {
    if (this.busy) return;
    this.busy = true;
    try {
      this.fit(Math.floor(sv.length / SVC_FIELDS), Math.floor(dv.length / DEST_FIELDS));
      const tick = ++this.tick;
      const slice = { start: performance.now() };
      let n = 0;
      for (const [id, s] of running) {
        if (s.id >= this.svc.length) continue;
        this.lastSeen[s.id] = tick;
        // Mapping a service makes its estimators (after a restore, 110,000 of them: 0.6 s):
        // the slice is looked at after each one.
        if (this.madeFrom[s.id] !== s) {
          this.map(id, s);
          await breathe(slice, BACKGROUND_SLICE_MS);
        } else if (++n % 256 === 0) {
          await breathe(slice, BACKGROUND_SLICE_MS);
        }
      }
      for (let i = 0; i < this.madeFrom.length; i++)
        if (this.madeFrom[i] && this.lastSeen[i] !== tick) this.unmap(i);
      for (let i = 0; i < this.svc.length; i++)
        if (this.svc[i] !== NONE) this.rates.sampleAt(this.svc[i], sv, i * SVC_FIELDS);
      for (let i = 0; i < this.dest.length; i++) {
        if ((i & 0x3fff) === 0) await breathe(slice, BACKGROUND_SLICE_MS);
        if (this.dest[i] !== NONE) this.rates.sampleAt(this.dest[i], dv, i * DEST_FIELDS);
      }
      // What is not in the arrays was not sampled: forgotten after two such ticks. Nothing in
      // the arrays can name a forgotten estimator (it was sampled this tick).
      this.rates.sweep();
    } finally {
      this.busy = false;
    }
  }

  /** The arrays as long as the counters (the dataplane's limits: fixed while it runs). */
  private fit(services: number, dests: number): void {
    if (services === this.svc.length && dests === this.dest.length) return;
    this.svc = new Int32Array(services).fill(NONE);
    this.dest = new Int32Array(dests).fill(NONE);
    this.madeFrom = [];
    this.destPairs = [];
    this.lastSeen = new Uint32Array(services);
  }

  private map(id: string, s: NativeService): void {
    this.unmap(s.id);
    // Keys made flat (join), not as template literals' trees of string pieces: 100,000 of
    // those were 25 MB, each still holding its address as a slice of the restore's input.
    this.svc[s.id] = this.rates.handle(['s', id].join(' '));
    const pairs = new Int32Array(s.dests.length * 2);
    for (let i = 0; i < s.dests.length; i++) {
      const d = s.dests[i];
      const h: EstimatorHandle = this.rates.handle(['d', id, hostPort(d.address, d.port)].join(' '));
      if (d.id < this.dest.length) this.dest[d.id] = h;
      pairs[2 * i] = d.id;
      pairs[2 * i + 1] = h;
    }
    this.destPairs[s.id] = pairs;
    this.madeFrom[s.id] = s;
  }

  /** Stops sampling for a native service id. A real-server id another service has taken over
   * since (a change freed it and gave it on) holds that one's estimator: it is left alone. */
  private unmap(sid: number): void {
    const pairs = this.destPairs[sid];
    if (pairs) for (let i = 0; i < pairs.length; i += 2) if (this.dest[pairs[i]] === pairs[i + 1]) this.dest[pairs[i]] = NONE;
    this.svc[sid] = NONE;
    this.destPairs[sid] = undefined;
    this.madeFrom[sid] = undefined;
  }
}
