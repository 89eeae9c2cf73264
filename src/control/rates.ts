// The kernel's IPVS rate estimator (net/netfilter/ipvs/ip_vs_est.c), so that the rates Fulcrum
// shows (`ipvsadm -L --rate`, /v1/stats) are the numbers the kernel would show for the same
// counters. The caller samples every stats object (totals, services, real servers, under keys
// of its choosing) every 2 seconds; this file owns the per-key estimator state and the
// kernel's fixed-point arithmetic, done in 64-bit integers with BigInt.
import type { TrafficCounters } from '../native';

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

interface Estimator {
  /** Counters at the previous sample (the kernel's last_conns ... last_outbytes). */
  last: bigint[];
  /** Scaled averages (the kernel's cps, inpps, outpps, inbps, outbps), as u64. */
  avg: bigint[];
  /** Set by reset(): the next sample only becomes the base. */
  rebase: boolean;
  /** The same state as plain numbers while every value is below 2^53 (exact there): BigInt
   * arithmetic for 60,000 real servers every 2 s held the event loop ~90 ms. */
  fast?: { last: number[]; avg: number[] };
}

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

/** One key's estimator, held by a caller that samples the same keys every tick (handle()). */
export type EstimatorHandle = Estimator;

export class RateEstimator {
  private readonly ests = new Map<string, Estimator>();

  /** The estimator of a key, made if new (its first sample only records the base). */
  handle(key: string): EstimatorHandle {
    let e = this.ests.get(key);
    if (!e) {
      e = { last: [], avg: FIELDS.map(() => 0n), rebase: true };
      this.ests.set(key, e);
    }
    return e;
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
    this.update(this.handle(key), c);
  }

  /**
   * sample() for a held estimator, from counters at v[at .. at+4] (conns, inpkts, outpkts,
   * inbytes, outbytes): what the rate sampler runs for every real server every 2 s, without a
   * key lookup or an allocation while the values are small.
   */
  sampleAt(e: EstimatorHandle, v: Float64Array, at: number): void {
    const f = e.fast;
    if (f && !e.rebase) {
      const { last, avg } = f;
      let ok = true;
      for (let i = 0; i < 5; i++) {
        const x = v[at + i];
        if (!(x >= last[i] && x < SAFE && (x - last[i]) * SHIFT_MUL[i] < SAFE)) ok = false;
      }
      if (ok) {
        for (let i = 0; i < 5; i++) {
          const x = v[at + i];
          avg[i] += Math.floor(((x - last[i]) * SHIFT_MUL[i] - avg[i]) / 4);
          last[i] = x;
        }
        return;
      }
    }
    this.update(e, { conns: v[at], inpkts: v[at + 1], outpkts: v[at + 2], inbytes: v[at + 3], outbytes: v[at + 4] });
  }

  private update(e: Estimator, c: CounterSample): void {
    const small = smallNumbers(c);
    if (small && e.fast && !e.rebase) {
      const { last, avg } = e.fast;
      let ok = true;
      for (let i = 0; i < 5; i++) if (small[i] < last[i] || (small[i] - last[i]) * SHIFT_MUL[i] >= SAFE) ok = false;
      if (ok) {
        for (let i = 0; i < 5; i++) {
          const rate = (small[i] - last[i]) * SHIFT_MUL[i];
          avg[i] += Math.floor((rate - avg[i]) / 4);
          last[i] = small[i];
        }
        return;
      }
    }
    const now = toU64(c);
    if (e.fast) {  // leave the fast path: carry its state over exactly
      e.last = e.fast.last.map(BigInt);
      e.avg = e.fast.avg.map(BigInt);
      e.fast = undefined;
    }
    // Counters below the base mean the object behind the key was replaced (a dataplane restart,
    // a real server removed and added again): the kernel would give it a fresh estimator.
    if (e.rebase || e.last.length === 0 || now.some((v, i) => v < e.last[i])) {
      e.last = now;
      e.avg = FIELDS.map(() => 0n);
      e.rebase = false;
      e.fast = small ? { last: small, avg: [0, 0, 0, 0, 0] } : undefined;
      return;
    }
    for (let i = 0; i < FIELDS.length; i++) {
      const rate = u64((now[i] - e.last[i]) << SAMPLE_SHIFT[i]);
      e.avg[i] = u64(e.avg[i] + ((s64(rate) - s64(e.avg[i])) >> 2n));
      e.last[i] = now[i];
    }
  }

  /** ip_vs_read_estimator(): (avg + 0x1FF) >> 10 for conns and packets, (avg + 0xF) >> 5 for bytes. */
  rates(key: string): Rates {
    const e = this.ests.get(key);
    if (!e) return { ...ZERO_RATES };
    if (e.fast) {
      const a = e.fast.avg;
      const pkt = (v: number) => Math.floor((v + 0x1FF) / 1024);
      const byt = (v: number) => Math.floor((v + 0xF) / 32);
      return { cps: pkt(a[0]), inpps: pkt(a[1]), outpps: pkt(a[2]), inbps: byt(a[3]), outbps: byt(a[4]) };
    }
    const pkt = (v: bigint) => Number(u64(v + 0x1FFn) >> 10n);
    const byt = (v: bigint) => Number(u64(v + 0xFn) >> 5n);
    return { cps: pkt(e.avg[0]), inpps: pkt(e.avg[1]), outpps: pkt(e.avg[2]), inbps: byt(e.avg[3]), outbps: byt(e.avg[4]) };
  }

  /**
   * ipvsadm -Z for one key, or every key: rates restart at 0 and the next sample is the new
   * base. (The kernel's ip_vs_zero_estimator() keeps the last tick's counters as the base, so
   * its first tick after -Z already counts; here that tick only rebases, which stays right
   * whether or not the caller's counters were zeroed too.)
   */
  reset(key?: string): void {
    const zero = (e: Estimator) => { e.avg = FIELDS.map(() => 0n); e.fast = undefined; e.rebase = true; };
    if (key === undefined) for (const e of this.ests.values()) zero(e);
    else { const e = this.ests.get(key); if (e) zero(e); }
  }

  /** Drops a key whose stats object is gone (the kernel's ip_vs_stop_estimator()). */
  forget(key: string): void {
    this.ests.delete(key);
  }
}
