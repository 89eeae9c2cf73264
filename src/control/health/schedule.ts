// When each health check runs, for 100,000 of them: one shared timer over a min-heap of due
// times (not a timer per check), a FIFO of checks that are due, and at most maxInFlight of them
// running at once — the rest wait their turn rather than opening a socket each. Starts are
// handed out in batches of startsPerTurn per event loop turn, so a crowd of due checks never
// holds the loop for long. Due checks start strictly in the order they fell due, so when the
// host cannot keep up every check runs equally late rather than some never. It records how
// late each check started (its schedule lag), the figure that says whether the monitor keeps
// up. A start is a plain callback with a shared `done`: at 20,000 a second, no promise or
// closure per check. What a check does and what its result means live in monitor.ts.

/** What the scheduler keeps on each job; the caller's object carries these fields. */
export interface Job {
  /** When it should start, performance.now() milliseconds. */
  due: number;
  /** Its place in the heap, -1 when it is not waiting there. */
  heapIndex: number;
  /** Set by cancel(): the job never starts again. */
  cancelled: boolean;
}

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
  private readonly heap: J[] = [];
  /** Due jobs in the order they became due; `head` is the next to start. */
  private ready: J[] = [];
  private head = 0;
  private timer?: NodeJS.Timeout;
  private armedFor = Infinity;
  private pumpQueued = false;
  private inFlight = 0;
  private peak = 0;
  private started = 0;
  private readonly late = new Uint32Array(LATE_BUCKETS + 1);
  private lateMax = 0;

  /** `start` begins a job and calls `done` once when it has finished (or was cancelled). */
  constructor(
    private readonly start: (job: J, done: () => void) => void,
    private readonly opts: { maxInFlight: number; startsPerTurn: number },
  ) {}

  /** A slot is free again; what waits for one starts on the next turn. */
  private readonly done = () => {
    this.inFlight--;
    if (this.head < this.ready.length) this.pumpLater();
  };

  /** Schedules job to start at `due` (performance.now() ms); it must not be scheduled already. */
  at(job: J, due: number): void {
    if (job.cancelled) return;
    job.due = due;
    job.heapIndex = this.heap.length;
    this.heap.push(job);
    this.up(job.heapIndex);
    if (job.heapIndex === 0) this.arm();
  }

  /** The job never starts again; one in flight is the caller's to abort. */
  cancel(job: J): void {
    job.cancelled = true;
    if (job.heapIndex >= 0) this.remove(job.heapIndex);
    // A cancelled job still in the ready queue is skipped when its turn comes.
  }

  /** Forgets every job; those in flight finish on their own (the caller aborts them). */
  clear(): void {
    for (const j of this.heap) j.heapIndex = -1;
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
      queued: this.ready.length - this.head, waiting: this.heap.length, started: this.started,
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

  /** One timer, for the earliest due job; re-armed only when that changes. */
  private arm() {
    const top = this.heap[0];
    if (!top) {
      clearTimeout(this.timer);
      this.timer = undefined;
      this.armedFor = Infinity;
      return;
    }
    if (this.timer && this.armedFor <= top.due) return;
    clearTimeout(this.timer);
    this.armedFor = top.due;
    this.timer = setTimeout(() => this.fire(), Math.max(0, top.due - performance.now()));
    // The monitor alone never keeps the process alive.
    this.timer.unref();
  }

  private fire() {
    this.timer = undefined;
    this.armedFor = Infinity;
    // Node's timers fire at millisecond granularity: what is due within the next one goes now.
    const now = performance.now() + 1;
    while (this.heap.length && this.heap[0].due <= now) {
      const j = this.heap[0];
      this.remove(0);
      this.ready.push(j);
    }
    this.pump();
    this.arm();
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
    gone.heapIndex = -1;
    if (i < h.length) {
      h[i] = last;
      last.heapIndex = i;
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
      h[i].heapIndex = i;
      i = p;
    }
    h[i] = j;
    j.heapIndex = i;
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
      h[i].heapIndex = i;
      i = c;
    }
    h[i] = j;
    j.heapIndex = i;
  }
}
