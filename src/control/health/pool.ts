// A few threads that run health checks other than TCP for the monitor (check_worker.ts), so
// their sockets, processes and callbacks are not the control plane thread's work: the monitor sends
// requests (gathered per turn), gets results back in batches, and decides everything itself.
// Threads start when first needed, never keep the process alive, and a thread that dies is
// replaced, its checks failing with the reason.
import path from 'node:path';
import { Worker } from 'node:worker_threads';
import type { CheckResult, CheckTarget, OtherCheck } from './checkers';
import type { CheckReply, CheckRequest, PoolMessage } from './check_worker';

interface Thread {
  worker: Worker;
  run: CheckRequest[];
  abort: number[];
  /** Checks sent to it and not answered yet. */
  ids: Set<number>;
}

export class CheckPool {
  private readonly threads: Array<Thread | undefined>;
  private readonly waiting = new Map<number, (r: CheckResult) => void>();
  private nextId = 1;
  private next = 0;
  private flushQueued = false;

  constructor(size: number) {
    this.threads = new Array<Thread | undefined>(Math.max(1, size)).fill(undefined);
  }

  /** Runs one check on a thread; cancel() settles it at once with ok: false and tells the
   * thread to release what the check holds. */
  run(check: OtherCheck, target: CheckTarget): { result: Promise<CheckResult>; cancel: () => void } {
    const id = this.nextId++;
    const index = this.next;
    this.next = (this.next + 1) % this.threads.length;
    const t = this.thread(index);
    let settle!: (r: CheckResult) => void;
    const result = new Promise<CheckResult>((resolve) => { settle = resolve; });
    this.waiting.set(id, settle);
    t.ids.add(id);
    t.run.push({ id, check, target });
    this.flushSoon();
    const cancel = () => {
      if (!this.waiting.delete(id)) return;
      t.ids.delete(id);
      if (this.threads[index] === t) {
        t.abort.push(id);
        this.flushSoon();
      }
      settle({ ok: false, detail: 'aborted' });
    };
    return { result, cancel };
  }

  /** Ends every thread; checks still waiting fail. A thread first aborts its checks, so what
   * they started (a command's processes) ends with them, then winds down; one that does not
   * within a second is terminated. */
  close(): void {
    this.threads.forEach((t, i) => {
      if (!t) return;
      this.threads[i] = undefined;
      this.fail(t, 'the check threads were stopped');
      const m: PoolMessage = { close: true };
      t.worker.postMessage(m);
      setTimeout(() => void t.worker.terminate(), 1000).unref();
    });
  }

  private thread(index: number): Thread {
    const have = this.threads[index];
    if (have) return have;
    const worker = new Worker(path.join(__dirname, 'check_worker.js'));
    const t: Thread = { worker, run: [], abort: [], ids: new Set() };
    worker.on('message', (batch: CheckReply) => {
      for (const { id, result } of batch) {
        const w = this.waiting.get(id);
        if (!w) continue;
        this.waiting.delete(id);
        t.ids.delete(id);
        w(result);
      }
    });
    const lost = (why: string) => {
      if (this.threads[index] !== t) return;
      this.threads[index] = undefined;
      this.fail(t, why);
    };
    worker.on('error', (e) => lost(`the check thread failed: ${e.message}`));
    worker.on('exit', (code) => lost(`the check thread exited (${code})`));
    // The monitor alone never keeps the process alive. After the listeners: adding a
    // 'message' listener refs the thread's port again.
    worker.unref();
    this.threads[index] = t;
    return t;
  }

  private fail(t: Thread, detail: string) {
    for (const id of t.ids) {
      const w = this.waiting.get(id);
      this.waiting.delete(id);
      w?.({ ok: false, detail });
    }
    t.ids.clear();
  }

  /** Requests made in one turn go to each thread as one message. */
  private flushSoon() {
    if (this.flushQueued) return;
    this.flushQueued = true;
    queueMicrotask(() => {
      this.flushQueued = false;
      for (const t of this.threads) {
        if (!t || (!t.run.length && !t.abort.length)) continue;
        const m: PoolMessage = {};
        if (t.run.length) m.run = t.run;
        if (t.abort.length) m.abort = t.abort;
        t.run = [];
        t.abort = [];
        t.worker.postMessage(m);
      }
    });
  }
}
