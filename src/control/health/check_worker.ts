// The inside of a check thread (pool.ts): runs the checks the monitor sends, with checkers.ts,
// and sends their results back, gathered per event loop turn. Sockets, child processes and
// their callbacks live here, off the control plane's thread, so thousands of HTTP, UDP, DNS,
// command and agent checks a second do not stall the API (TCP checks have the addon's thread,
// tcp_checker.ts); the monitor keeps all state and decisions.
import { parentPort } from 'node:worker_threads';
import { runCheck, type CheckResult, type CheckTarget, type OtherCheck } from './checkers';

export interface CheckRequest {
  id: number;
  check: OtherCheck;
  target: CheckTarget;
}

export interface PoolMessage {
  run?: CheckRequest[];
  abort?: number[];
  /** Abort everything and end the thread. */
  close?: boolean;
}

export type CheckReply = Array<{ id: number; result: CheckResult }>;

if (parentPort) {
  const port = parentPort;
  const inflight = new Map<number, AbortController>();
  let out: CheckReply = [];
  const flush = () => {
    const batch = out;
    out = [];
    port.postMessage(batch);
  };
  port.on('message', (m: PoolMessage) => {
    if (m.close) {
      for (const ac of inflight.values()) ac.abort();
      // A command aborted is killed at once, but only this thread's loop can reap it: it runs a
      // moment longer, so no zombie is left behind.
      setTimeout(() => port.close(), 250);
      return;
    }
    for (const id of m.abort ?? []) inflight.get(id)?.abort();
    for (const r of m.run ?? []) {
      const ac = new AbortController();
      inflight.set(r.id, ac);
      runCheck(r.check, r.target, { signal: ac.signal })
        .catch((err: Error): CheckResult => ({ ok: false, detail: `check failed: ${err.message}` }))
        .then((result) => {
          inflight.delete(r.id);
          if (out.push({ id: r.id, result }) === 1) setImmediate(flush);
        });
    }
  });
}
