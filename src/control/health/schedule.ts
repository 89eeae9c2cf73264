// When each health check runs, for 100,000 of them: one shared timer over a wheel of due times
// (one slot per millisecond over about a minute, not a timer per check; checks due further out
// wait in a min-heap until they come within it), a FIFO of checks that are due, and at most
// maxInFlight of them running at once — the rest wait their turn rather than opening a socket
// each. Taking 20 checks due in a millisecond out of the wheel costs what it takes to read them
// (the heap's sift-downs through 100,000 jobs cost microseconds each). Starts are handed out in
// batches of startsPerTurn per event loop turn, so a crowd of due checks never holds the loop
// for long. Due checks start strictly in the order they fell due, so when the host cannot keep
// up every check runs equally late rather than some never. It records how late each check
// started (its schedule lag), the figure that says whether the monitor keeps up. A start is a
// plain callback with a shared `done`: at 20,000 a second, no promise or closure per check.
// What a check does and what its result means live in monitor.ts.

/** What the scheduler keeps on each job; the caller's object carries these fields. */
export interface Job {
  /** When it should start, performance.now() milliseconds. */
  due: number;
  /** Where it waits: a wheel slot (>= 0), the heap (FAR), or nowhere (-1). */
  where: number;
  /** Its place in that slot's array or in the heap. */
  index: number;
  /** Set by cancel(): the job never starts again. */
  cancelled: boolean;
}

/** The wheel's slots of 1 ms by default (65 s); a job due later waits in the heap. */
const WHEEL_SLOTS = 1 << 16;
const FAR = -2;

export interface SchedulingStatus {
  /** Checks running now, the most that ran at once since the last reset, and the limit. */
  inFlight: number;
  peakInFlight: number;
  maxInFlight: number;
  /** Due and waiting for a free slot. */
  queued: number;
  /** Waiting for their time. */
  waiting: number;
  /** Checks started since the last reset. */
  started: number;
  /** How late checks started (due time to start), milliseconds, since the last reset. */
  lateMs: { p50: number; p99: number; max: number };
}

/** Lateness is counted in 1 ms buckets up to this; later starts count in the last one (and max). */
const LATE_BUCKETS = 60_000;

export class CheckScheduler<J extends Job> {
  /** Slot t & mask holds the jobs due in millisecond t, for t in [cursor, cursor + slots). */
  private readonly wheel: Array<J[] | undefined>;
  private readonly slots: number;
  private readonly mask: number;
  private inWheel = 0;
  /** The first millisecond not yet taken out of the wheel. */
  private cursor = Math.floor(performance.now());
  /** Jobs due at or beyond cursor + slots, the earliest at 0. */
  private readonly heap: J[] = [];
  /** Due jobs in the order they became due; `head` is the next to start. */
  private ready: J[] = [];
  private head = 0;
  private timer?: NodeJS.Timeout;
  /** The millisecond the timer is set for. */
  private armedFor = Infinity;
  private pumpQueued = false;
  private inFlight = 0;
  private peak = 0;
  private started = 0;
  private readonly late = new Uint32Array(LATE_BUCKETS + 1);
  private lateMax = 0;

  /** `start` begins a job and calls `done` once when it has finished (or was cancelled).
   * wheelSlots (a power of two) is how many milliseconds ahead the wheel holds; a test shrinks it. */
  constructor(
    private readonly start: (job: J, done: () => void) => void,
    private readonly opts: { maxInFlight: number; startsPerTurn: number; wheelSlots?: number },
  ) {
    const n = opts.wheelSlots ?? WHEEL_SLOTS;
    if (!(n >= 1 && (n & (n - 1)) === 0)) throw new RangeError(`wheelSlots must be a power of two, not ${n}`);
    this.slots = n;
    this.mask = n - 1;
    this.wheel = new Array<J[] | undefined>(n);
  }

  /** A slot is free again; what waits for one starts on the next turn. */
  private readonly done = () => {
    this.inFlight--;
    if (this.head < this.ready.length) this.pumpLater();
  };

  /** Schedules job to start at `due` (performance.now() ms); it must not be scheduled already. */
  at(job: J, due: number): void {
    if (job.cancelled) return;
    job.due = due;
    // An empty wheel moves on to now, so that a scheduler idle for minutes takes near jobs into
    // the wheel rather than the heap.
    if (this.inWheel === 0) this.cursor = Math.max(this.cursor, Math.floor(performance.now()));
    // A job already due goes in the next slot to be taken.
    const t = Math.max(Math.floor(due), this.cursor);
    if (t - this.cursor < this.slots) this.slot(job, t);
    else {
      job.where = FAR;
      job.index = this.heap.length;
      this.heap.push(job);
      this.up(job.index);
    }
    if (t < this.armedFor) this.arm(t);
  }

  /** The job never starts again; one in flight is the caller's to abort. */
  cancel(job: J): void {
    job.cancelled = true;
    if (job.where === FAR) this.remove(job.index);
    else if (job.where >= 0) {
      const jobs = this.wheel[job.where]!;
      const last = jobs.pop()!;
      if (last !== job) {
        jobs[job.index] = last;
        last.index = job.index;
      }
      this.inWheel--;
    }
    job.where = -1;
    // A cancelled job still in the ready queue is skipped when its turn comes.
  }

  /** Forgets every job; those in flight finish on their own (the caller aborts them). */
  clear(): void {
    for (const jobs of this.wheel) for (const j of jobs ?? []) j.where = -1;
    for (const j of this.heap) j.where = -1;
    this.wheel.fill(undefined);
    this.inWheel = 0;
    this.heap.length = 0;
    this.ready = [];
    this.head = 0;
    clearTimeout(this.timer);
    this.timer = undefined;
    this.armedFor = Infinity;
  }

  status(reset = false): SchedulingStatus {
    const st: SchedulingStatus = {
      inFlight: this.inFlight, peakInFlight: this.peak, maxInFlight: this.opts.maxInFlight,
      queued: this.ready.length - this.head, waiting: this.inWheel + this.heap.length, started: this.started,
      lateMs: { p50: this.percentile(0.5), p99: this.percentile(0.99), max: Math.round(this.lateMax * 10) / 10 },
    };
    if (reset) {
      this.late.fill(0);
      this.lateMax = 0;
      this.started = 0;
      this.peak = this.inFlight;
    }
    return st;
  }

  private percentile(q: number): number {
    if (this.started === 0) return 0;
    const rank = Math.ceil(q * this.started);
    let seen = 0;
    for (let i = 0; i <= LATE_BUCKETS; i++) {
      seen += this.late[i];
      if (seen >= rank) return i;
    }
    return LATE_BUCKETS;
  }

  private slot(job: J, t: number) {
    const i = t & this.mask;
    const jobs = (this.wheel[i] ??= []);
    job.where = i;
    job.index = jobs.length;
    jobs.push(job);
    this.inWheel++;
  }

  /** One timer, for millisecond t (the earliest with a job); re-set only when that moves earlier. */
  private arm(t: number) {
    clearTimeout(this.timer);
    this.armedFor = t;
    this.timer = setTimeout(() => this.fire(), Math.max(0, t - performance.now()));
    // The monitor alone never keeps the process alive.
    this.timer.unref();
  }

  /** Takes what is due out of the wheel (and the heap) into the ready queue, starts what it can,
   * and sets the timer for the next millisecond that holds a job. */
  private fire() {
    this.timer = undefined;
    this.armedFor = Infinity;
    const now = Math.floor(performance.now());
    while (this.cursor <= now && this.inWheel > 0) {
      const i = this.cursor & this.mask;
      const jobs = this.wheel[i];
      if (jobs?.length) {
        for (const j of jobs) {
          j.where = -1;
          this.ready.push(j);
        }
        this.inWheel -= jobs.length;
        jobs.length = 0;
      }
      this.cursor++;
    }
    if (this.cursor <= now) this.cursor = now + 1;
    // The heap's jobs that have come within the wheel's reach, or are due already.
    while (this.heap.length && Math.floor(this.heap[0].due) < this.cursor + this.slots) {
      const j = this.heap[0];
      this.remove(0);
      if (j.due < this.cursor) {
        j.where = -1;
        this.ready.push(j);
      } else this.slot(j, Math.floor(j.due));
    }
    this.pump();
    let next = Infinity;
    if (this.inWheel > 0)
      for (let t = this.cursor; ; t++)
        if (this.wheel[t & this.mask]?.length) {
          next = t;
          break;
        }
    // A heap job is taken when it comes within the wheel's reach.
    if (this.heap.length) next = Math.min(next, Math.floor(this.heap[0].due) - this.slots + 1);
    if (next !== Infinity) this.arm(next);
  }

  /** Starts due jobs while there are free slots, at most startsPerTurn now; the rest next turn. */
  private pump() {
    this.pumpQueued = false;
    let n = 0;
    while (this.inFlight < this.opts.maxInFlight && this.head < this.ready.length) {
      if (n >= this.opts.startsPerTurn) return this.pumpLater();
      const j = this.ready[this.head++];
      if (j.cancelled) continue;
      n++;
      this.inFlight++;
      this.started++;
      if (this.inFlight > this.peak) this.peak = this.inFlight;
      const lateness = Math.max(0, performance.now() - j.due);
      this.late[Math.min(LATE_BUCKETS, Math.floor(lateness))]++;
      if (lateness > this.lateMax) this.lateMax = lateness;
      this.start(j, this.done);
    }
    // Drop what has started from the front now and then, so the array does not grow forever.
    if (this.head > 1024 && this.head * 2 > this.ready.length) {
      this.ready = this.ready.slice(this.head);
      this.head = 0;
    }
  }

  private pumpLater() {
    if (this.pumpQueued) return;
    this.pumpQueued = true;
    setImmediate(() => this.pump()).unref();
  }

  // The heap: the earliest due at 0; each job knows its index, so cancel() is O(log n).
  private remove(i: number) {
    const h = this.heap;
    const gone = h[i];
    const last = h.pop()!;
    gone.where = -1;
    if (i < h.length) {
      h[i] = last;
      last.index = i;
      this.down(i);
      this.up(i);
    }
  }

  private up(i: number) {
    const h = this.heap;
    const j = h[i];
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (h[p].due <= j.due) break;
      h[i] = h[p];
      h[i].index = i;
      i = p;
    }
    h[i] = j;
    j.index = i;
  }

  private down(i: number) {
    const h = this.heap;
    const j = h[i];
    const n = h.length;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= n) break;
      const c = l + 1 < n && h[l + 1].due < h[l].due ? l + 1 : l;
      if (h[c].due >= j.due) break;
      h[i] = h[c];
      h[i].index = i;
      i = c;
    }
    h[i] = j;
    j.index = i;
  }
}
