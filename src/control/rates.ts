// The kernel's IPVS rate estimator (net/netfilter/ipvs/ip_vs_est.c), so that the rates Fulcrum
// shows (`ipvsadm -L --rate`, /v1/stats) are the numbers the kernel would show for the same
// counters. The caller samples every stats object (totals, services, real servers, under keys
// of its choosing) every 2 seconds; this file owns the per-key estimator state and the
// kernel's fixed-point arithmetic: on plain numbers while they are exact, else in 64-bit BigInts.
import type { TrafficCounters } from '../native';
import { ShardedMap } from './sharded_map';

/** Estimated rates, as ipvsadm shows them; the "bps" are bytes per second. */
export interface Rates {
  cps: number;
  inpps: number;
  outpps: number;
  inbps: number;
  outbps: number;
}

/** Counters as the addon gives them today (number) or as 64-bit integers (bigint). */
export type CounterSample = { [K in keyof TrafficCounters]: number | bigint };

const FIELDS = ['conns', 'inpkts', 'outpkts', 'inbytes', 'outbytes'] as const;
// Averages are kept scaled: conns and packets by 2^10, bytes by 2^5. A sample is the delta over
// the 2 s period, so scaling and dividing by 2 is one shift: << 9 and << 4.
const SAMPLE_SHIFT = [9n, 9n, 9n, 4n, 4n] as const;
const ZERO_RATES: Rates = { cps: 0, inpps: 0, outpps: 0, inbps: 0, outbps: 0 };

const u64 = (v: bigint) => BigInt.asUintN(64, v);
const s64 = (v: bigint) => BigInt.asIntN(64, v);

/** Below this every value of the fast path, and each step's intermediate, is exact. */
const SAFE = 2 ** 52;
const SHIFT_MUL = [512, 512, 512, 16, 16] as const;

function toU64(c: CounterSample): bigint[] {
  return FIELDS.map((f) => {
    const v = c[f];
    if (typeof v === 'bigint') return u64(v);
    if (!Number.isInteger(v) || v < 0) throw new RangeError(`counter ${f} is ${v}, not a non-negative integer`);
    return BigInt(v);
  });
}

/** The counters as plain numbers when all are small non-negative integers, else undefined. */
function smallNumbers(c: CounterSample): number[] | undefined {
  const out: number[] = [];
  for (const f of FIELDS) {
    const v = c[f];
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v >= SAFE) return undefined;
    out.push(v);
  }
  return out;
}

/** One key's estimator, held by a caller that samples the same keys every tick (handle()):
 * its slot in the estimator's arrays. A handle is good until its key is forgotten. */
export type EstimatorHandle = number;

// A slot's state: its next sample only records the base; its state is plain numbers (in
// `last`/`avg`); or 64-bit integers (in `big`).
const REBASE = 0;
const NUMBERS = 1;
const BIGINTS = 2;

interface BigState { last: bigint[]; avg: bigint[] }

/**
 * Every key's state lives in flat arrays, five values a slot: at 100,000 real servers an
 * object and two arrays per key, with a new heap number stored into them for every counter
 * every 2 s, made each tick a young-generation collection of over 500,000 old-to-new slots
 * (20-50 ms of the event loop). Here a tick allocates nothing while the values are below 2^52.
 */
export class RateEstimator {
  private readonly slots = new ShardedMap<number>();  // a key a real server: 100,000 of them
  private keys: Array<string | undefined> = [];
  private readonly free: number[] = [];
  private last: Float64Array;
  private avg: Float64Array;
  private mode: Uint8Array;
  /** The tick each slot was last sampled in (sweep() forgets what ticks no longer reach). */
  private seen: Uint32Array;
  private tick = 1;
  private readonly big = new Map<number, BigState>();

  /** `capacity`: the keys expected (the table's limits), so that the first tick after a large
   * restore does not copy the arrays while it makes 100,000 estimators (each doubling was a
   * stall of tens of ms); more still grow them. */
  constructor(capacity = 64) {
    const cap = Math.max(64, Math.min(capacity, 1 << 18));
    this.last = new Float64Array(5 * cap);
    this.avg = new Float64Array(5 * cap);
    this.mode = new Uint8Array(cap);
    this.seen = new Uint32Array(cap);
  }

  /** The estimator of a key, made if new (its first sample only records the base). */
  handle(key: string): EstimatorHandle {
    let h = this.slots.get(key);
    if (h !== undefined) return h;
    h = this.free.pop() ?? this.keys.length;
    if (h >= this.mode.length) this.grow(h + 1);
    this.keys[h] = key;
    this.slots.set(key, h);
    this.clear(h);
    this.seen[h] = this.tick;
    return h;
  }

  /**
   * One 2-second tick for one stats object. The first sample of a key (and the first after
   * reset) only records the base. The update is ip_vs_chain_estimation()'s:
   *   rate = (now - last) << 9;  avg += ((s64)rate - (s64)avg) >> 2;   (bytes: << 4)
   * with u64 counters and an arithmetic shift on the signed difference, as the kernel does.
   * While every value is small the same steps run on numbers (exact below 2^53: the shift of
   * a signed difference is Math.floor(d / 4)); otherwise on 64-bit BigInts.
   */
  sample(key: string, c: CounterSample): void {
    const h = this.handle(key);
    this.seen[h] = this.tick;
    this.update(h, c);
  }

  /**
   * sample() for a held estimator, from counters at v[at .. at+4] (conns, inpkts, outpkts,
   * inbytes, outbytes): what the rate sampler runs for every real server every 2 s, without a
   * key lookup or an allocation while the values are small.
   */
  sampleAt(h: EstimatorHandle, v: Float64Array, at: number): void {
    this.seen[h] = this.tick;
    if (this.mode[h] === NUMBERS) {
      const last = this.last;
      const avg = this.avg;
      const b = h * 5;
      let ok = true;
      for (let i = 0; i < 5; i++) {
        const x = v[at + i];
        if (!(x >= last[b + i] && x < SAFE && (x - last[b + i]) * SHIFT_MUL[i] < SAFE)) ok = false;
      }
      if (ok) {
        for (let i = 0; i < 5; i++) {
          const x = v[at + i];
          avg[b + i] += Math.floor(((x - last[b + i]) * SHIFT_MUL[i] - avg[b + i]) / 4);
          last[b + i] = x;
        }
        return;
      }
    }
    this.update(h, { conns: v[at], inpkts: v[at + 1], outpkts: v[at + 2], inbytes: v[at + 3], outbytes: v[at + 4] });
  }

  private update(h: number, c: CounterSample): void {
    const small = smallNumbers(c);
    const b = h * 5;
    const mode = this.mode[h];
    if (small && mode === NUMBERS) {
      let ok = true;
      for (let i = 0; i < 5; i++) if (small[i] < this.last[b + i] || (small[i] - this.last[b + i]) * SHIFT_MUL[i] >= SAFE) ok = false;
      if (ok) {
        for (let i = 0; i < 5; i++) {
          const rate = (small[i] - this.last[b + i]) * SHIFT_MUL[i];
          this.avg[b + i] += Math.floor((rate - this.avg[b + i]) / 4);
          this.last[b + i] = small[i];
        }
        return;
      }
    }
    const now = toU64(c);
    // Leaving the numbers: carry their state over exactly.
    const st: BigState | undefined = mode === NUMBERS
      ? { last: Array.from(this.last.subarray(b, b + 5), BigInt), avg: Array.from(this.avg.subarray(b, b + 5), BigInt) }
      : this.big.get(h);
    // Counters below the base mean the object behind the key was replaced (a dataplane restart,
    // a real server removed and added again): the kernel would give it a fresh estimator.
    if (mode === REBASE || !st || now.some((v, i) => v < st.last[i])) {
      this.clear(h);
      if (small) {
        this.mode[h] = NUMBERS;
        this.last.set(small, b);
      } else {
        this.mode[h] = BIGINTS;
        this.big.set(h, { last: now, avg: FIELDS.map(() => 0n) });
      }
      return;
    }
    for (let i = 0; i < FIELDS.length; i++) {
      const rate = u64((now[i] - st.last[i]) << SAMPLE_SHIFT[i]);
      st.avg[i] = u64(st.avg[i] + ((s64(rate) - s64(st.avg[i])) >> 2n));
      st.last[i] = now[i];
    }
    this.mode[h] = BIGINTS;
    this.big.set(h, st);
  }

  /** ip_vs_read_estimator(): (avg + 0x1FF) >> 10 for conns and packets, (avg + 0xF) >> 5 for bytes. */
  rates(key: string): Rates {
    const h = this.slots.get(key);
    if (h === undefined) return { ...ZERO_RATES };
    const st = this.mode[h] === BIGINTS ? this.big.get(h) : undefined;
    if (!st) {
      const b = h * 5;
      const a = this.avg;
      const pkt = (v: number) => Math.floor((v + 0x1FF) / 1024);
      const byt = (v: number) => Math.floor((v + 0xF) / 32);
      return { cps: pkt(a[b]), inpps: pkt(a[b + 1]), outpps: pkt(a[b + 2]), inbps: byt(a[b + 3]), outbps: byt(a[b + 4]) };
    }
    const pkt = (v: bigint) => Number(u64(v + 0x1FFn) >> 10n);
    const byt = (v: bigint) => Number(u64(v + 0xFn) >> 5n);
    return { cps: pkt(st.avg[0]), inpps: pkt(st.avg[1]), outpps: pkt(st.avg[2]), inbps: byt(st.avg[3]), outbps: byt(st.avg[4]) };
  }

  /**
   * ipvsadm -Z for one key, or every key: rates restart at 0 and the next sample is the new
   * base. (The kernel's ip_vs_zero_estimator() keeps the last tick's counters as the base, so
   * its first tick after -Z already counts; here that tick only rebases, which stays right
   * whether or not the caller's counters were zeroed too.)
   */
  reset(key?: string): void {
    if (key === undefined) for (const h of this.slots.values()) this.clear(h);
    else { const h = this.slots.get(key); if (h !== undefined) this.clear(h); }
  }

  /** Drops a key whose stats object is gone (the kernel's ip_vs_stop_estimator()); its
   * handle is no longer good. */
  forget(key: string): void {
    const h = this.slots.get(key);
    if (h === undefined) return;
    this.slots.delete(key);
    this.keys[h] = undefined;
    this.clear(h);
    this.free.push(h);
  }

  /**
   * Ends a tick: forgets the keys that were sampled in neither this tick nor the one before
   * (their stats objects are gone: a removed service or real server), so the estimators do not
   * outgrow the table. Returns how many were forgotten: their handles are no longer good.
   */
  sweep(): number {
    let n = 0;
    for (let h = 0; h < this.keys.length; h++) {
      const k = this.keys[h];
      if (k !== undefined && this.tick - this.seen[h] >= 2) { this.forget(k); n++; }
    }
    this.tick++;
    return n;
  }

  /** Keys held now (tests, and the table's size in a listing). */
  get size(): number { return this.slots.size; }

  private clear(h: number): void {
    this.mode[h] = REBASE;
    this.last.fill(0, h * 5, h * 5 + 5);
    this.avg.fill(0, h * 5, h * 5 + 5);
    this.big.delete(h);
  }

  private grow(min: number): void {
    let cap = this.mode.length;
    while (cap < min) cap *= 2;
    const last = new Float64Array(cap * 5);
    const avg = new Float64Array(cap * 5);
    const mode = new Uint8Array(cap);
    const seen = new Uint32Array(cap);
    last.set(this.last);
    avg.set(this.avg);
    mode.set(this.mode);
    seen.set(this.seen);
    this.last = last;
    this.avg = avg;
    this.mode = mode;
    this.seen = seen;
  }

}
