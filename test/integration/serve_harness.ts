// `fulcrum serve` as the API tests run it: a director on net_null ports (the real dataplane,
// no network touched) started as a child process, waited for until it says it is ready, and
// stopped by signal; and one HTTP call helper that returns status, JSON and text.
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { root } from './harness';

export function nullConfig(port: number, extra: Record<string, unknown> = {}) {
  return {
    dataplane: {
      eal: ['--log-level=error'], workers: [1], connTableSize: 4096, maxServices: 64, maxRealServers: 256,
      idleBackoff: { pauseAfterPolls: 64, maxSleepMicroseconds: 200 },
      ports: [
        { name: 'outside', device: `net_null${port % 100}0`, address: '198.18.0.1/24', tap: false },
        { name: 'inside', device: `net_null${port % 100}1`, address: '198.19.0.1/24', tap: false },
      ],
    },
    api: { listen: `127.0.0.1:${port}` },
    services: [{ protocol: 'tcp', address: '198.18.0.100', port: 80, scheduler: 'wlc',
      realServers: [{ address: '198.19.0.11', port: 8080, method: 'nat', weight: 1 }] }],
    ...extra,
  };
}

export class Serve {
  child?: ChildProcess;
  out = '';
  constructor(readonly cfgFile: string, readonly stateDir: string, readonly prefix: string[] = []) {}
  async start(): Promise<void> {
    this.out = '';
    const cmd = [...this.prefix, process.execPath, path.join(root, 'bin/fulcrum.js'), 'serve', '--config', this.cfgFile, '--state-dir', this.stateDir];
    this.child = spawn(cmd[0], cmd.slice(1));
    this.child.stdout!.on('data', (d: Buffer) => { this.out += d; });
    this.child.stderr!.on('data', (d: Buffer) => { this.out += d; });
    for (let i = 0; i < 200; i++) {
      if (/"msg":"services applied; ready"/.test(this.out)) return;
      if (this.child.exitCode !== null) break;
      await sleep(100);
    }
    throw new Error(`serve did not become ready:\n${this.out}`);
  }
  async stop(signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
    if (!this.child || this.child.exitCode !== null || this.child.signalCode !== null) return;
    const exited = new Promise((r) => this.child!.once('exit', r));
    this.child.kill(signal);
    await exited;
  }
}

export async function call(base: string, method: string, p: string, body?: unknown, headers: Record<string, string> = {}) {
  const init: RequestInit = { method, headers: { ...headers } };
  if (body !== undefined) {
    if (typeof body === 'string') {
      (init.headers as Record<string, string>)['content-type'] = 'text/plain';
      init.body = body;
    } else {
      (init.headers as Record<string, string>)['content-type'] = 'application/json';
      init.body = JSON.stringify(body);
    }
  }
  const r = await fetch(base + p, init);
  const text = await r.text();
  let json: any;
  try { json = JSON.parse(text); } catch { json = undefined; }
  return { status: r.status, json, text, type: r.headers.get('content-type') ?? '' };
}

