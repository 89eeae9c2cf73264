// `fulcrum bench ha [--json] [--connections N]` (root, keepalived): a director pair on the
// pair topology (src/tools/pair_topology.ts: af_packet ports on shared client and server
// segments, NAT to an echo server), VRRP moving the VIP and the servers' gateway, run twice,
// with connection sync (both daemons on both directors) and without:
//   takeover_ms      kill -9 of the master → the backup's MASTER transition (keepalived's
//                    3 × advert_int + skew, advert_int 1 s)
//   failover_ms      kill -9 → the first new connection answered through the backup (a client
//                    opens one every 20 ms)
//   surviving_pct_sync / surviving_pct_nosync  of N connections made through the master
//                    (each had exchanged two lines), the share that answer a line after the kill
// The sync thread's records per second and the packet path's cost of sync on are the core
// bench's (`fulcrum bench core`: sync_* figures). Figures, not pass/fail.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import { setTimeout as sleep } from 'node:timers/promises';
import { HeldConnection, PairTopology, VIP } from './pair_topology';

const root = path.resolve(__dirname, '../../..');

interface Opts { json: boolean; connections: number }

function parse(args: string[]): Opts {
  const o: Opts = { json: false, connections: 50 };
  for (let i = 0; i < args.length; i++) {
    if (args[i] === '--json') o.json = true;
    else if (args[i] === '--connections') {
      const v = Number(args[++i]);
      if (!Number.isInteger(v) || v < 1 || v > 500) throw new Error('--connections needs an integer in 1..500');
      o.connections = v;
    } else throw new Error(`unknown option ${args[i]}`);
  }
  return o;
}

/** `fulcrum serve` in a director's namespace. */
class PairDirector {
  child?: ChildProcess;
  out = '';
  constructor(readonly t: PairTopology, readonly d: 'A' | 'B', readonly api: number) {}
  async start(sync: object, priority: number): Promise<void> {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fulcrum-bench-ha-'));
    const cfg = path.join(dir, 'fulcrum.json');
    fs.writeFileSync(cfg, JSON.stringify(this.t.directorConfig(this.d, this.api, sync, { priority })));
    this.child = spawn('ip', ['netns', 'exec', this.t.ns(`d${this.d}`), process.execPath, path.join(root, 'bin/fulcrum.js'), 'serve',
      '--config', cfg, '--state-dir', path.join(dir, 'state')]);
    this.child.stdout!.on('data', (b: Buffer) => { this.out = (this.out + b).slice(-20000); });
    this.child.stderr!.on('data', (b: Buffer) => { this.out = (this.out + b).slice(-20000); });
    for (let i = 0; i < 300 && !/services applied; ready/.test(this.out); i++) {
      if (this.child.exitCode !== null) break;
      await sleep(100);
    }
    if (!/services applied; ready/.test(this.out)) throw new Error(`director ${this.d} did not start:\n${this.out}`);
  }
  ha(): { state: string; owner: boolean; lastTransition?: { at: string } } {
    const r = spawnSync('ip', ['netns', 'exec', this.t.ns(`d${this.d}`), 'curl', '-sS', '-m', '5', `http://127.0.0.1:${this.api}/v1/ha`], { encoding: 'utf8' });
    return JSON.parse(r.stdout || '{}').vrrp ?? { state: 'UNKNOWN', owner: false };
  }
  async waitMaster(ms = 20000): Promise<number> {
    const t0 = Date.now();
    for (; Date.now() - t0 < ms; await sleep(20)) {
      const h = this.ha();
      if (h.state === 'MASTER' && h.owner) return Date.parse(h.lastTransition?.at ?? new Date().toISOString());
    }
    throw new Error(`director ${this.d} did not become MASTER:\n${this.out.slice(-3000)}`);
  }
  kill9(): void { this.child?.kill('SIGKILL'); }
  async stop(): Promise<void> {
    const c = this.child;
    if (!c || c.exitCode !== null || c.signalCode !== null) return;
    const exited = new Promise((r) => c.once('exit', r));
    c.kill('SIGTERM');
    await Promise.race([exited, sleep(15000)]);
    if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  }
}

/** A client opening a new connection every 20 ms; the times (epoch ms) of those answered. */
function prober(t: PairTopology): { child: ChildProcess; answered: number[] } {
  const answered: number[] = [];
  const child = spawn('ip', ['netns', 'exec', t.ns('cli'), 'python3', '-u', '-c', `
import socket, threading, time
def one():
    try:
        s = socket.create_connection(("${VIP}", 80), timeout=2)
        s.sendall(b"probe\\n")
        if s.makefile("rb").readline():
            print(int(time.time() * 1000), flush=True)
        s.close()
    except Exception:
        pass
while True:
    threading.Thread(target=one, daemon=True).start()
    time.sleep(0.02)
`]);
  readline.createInterface({ input: child.stdout! }).on('line', (l) => answered.push(Number(l)));
  return { child, answered };
}

async function run(o: Opts, withSync: boolean): Promise<Record<string, number>> {
  const t = new PairTopology('bha');
  t.up();
  t.routeByVrrp();
  const sync = { daemons: withSync ? [{ state: 'master', interface: 'outside', syncId: 61 }, { state: 'backup', interface: 'outside', syncId: 61 }] : [] };
  const a = new PairDirector(t, 'A', 19701), b = new PairDirector(t, 'B', 19702);
  const held: HeldConnection[] = [];
  let probe: ReturnType<typeof prober> | undefined;
  try {
    await a.start(sync, 150);
    await a.waitMaster();
    await b.start(sync, 100);
    for (let i = 0; i < o.connections; i++) held.push(new HeldConnection(t.ns('cli')));
    await Promise.all(held.map(async (c, i) => { await c.port(); await c.say(`hello ${i}`); await c.say(`again ${i}`); }));
    await sleep(2500);  // a master flushes a partly filled message within 2 s
    probe = prober(t);
    await sleep(500);
    const killedAt = Date.now();
    a.kill9();
    const masterAt = await b.waitMaster();
    for (let i = 0; i < 200 && !probe.answered.some((x) => x > killedAt); i++) await sleep(50);
    const first = probe.answered.find((x) => x > killedAt);
    const answers = await Promise.all(held.map((c, i) => c.say(`after ${i}`)));
    const ok = answers.filter((x, i) => x === `echo after ${i}`).length;
    return { takeover_ms: masterAt - killedAt, failover_ms: first ? first - killedAt : NaN, surviving_pct: Math.round((1000 * ok) / held.length) / 10 };
  } finally {
    probe?.child.kill();
    for (const c of held) c.close();
    a.kill9();
    await b.stop();
    t.down();
  }
}

export async function runHaBench(args: string[]): Promise<number> {
  let o: Opts;
  try {
    o = parse(args);
  } catch (e) {
    process.stderr.write(`fulcrum bench ha: ${(e as Error).message}\n`);
    return 2;
  }
  if (process.getuid?.() !== 0 || spawnSync('sh', ['-c', 'command -v keepalived']).status !== 0) {
    process.stderr.write('fulcrum bench ha: needs root (network namespaces) and keepalived (scripts/setup installs it)\n');
    return 2;
  }
  const say = (s: string) => { if (!o.json) process.stdout.write(s + '\n'); };
  try {
    const s = await run(o, true);
    say(`with sync: kill -9 of the master → backup MASTER ${s.takeover_ms} ms, first new connection answered ${s.failover_ms} ms; ` +
      `${s.surviving_pct}% of ${o.connections} connections go on`);
    const n = await run(o, false);
    say(`without sync: takeover ${n.takeover_ms} ms, first new connection answered ${n.failover_ms} ms; ${n.surviving_pct}% of ${o.connections} connections go on`);
    if (o.json) {
      process.stdout.write(JSON.stringify({ connections: o.connections, takeover_ms: s.takeover_ms, failover_ms: s.failover_ms,
        surviving_pct_sync: s.surviving_pct, surviving_pct_nosync: n.surviving_pct, takeover_ms_nosync: n.takeover_ms, failover_ms_nosync: n.failover_ms }) + '\n');
    }
    return 0;
  } catch (e) {
    process.stderr.write(`fulcrum bench ha: ${(e as Error).message}\n`);
    return 1;
  }
}
