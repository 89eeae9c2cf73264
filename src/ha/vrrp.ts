// VIP ownership by VRRP (ha.vrrp): keepalived (keepalived.ts) speaks the protocol with the
// peer director; this file follows its state and hands the VIPs to the dataplane or takes
// them back (MASTER owns them; BACKUP, FAULT, STOP and a dead keepalived do not), and tells
// keepalived whether this director is fit to be MASTER through its track file: not when the
// dataplane is down, the VRRP port's link is down or the operator drained the director
// (`fulcrum drain`), which puts the instance in FAULT so the peer takes over at once. Each
// transition is logged once; GET /v1/ha and the metrics read status().
import fs from 'node:fs';
import path from 'node:path';
import type { NativeAddon } from '../native';
import { Keepalived, keepalivedPaths, type KeepalivedLogger, type KeepalivedState } from './keepalived';
import { INSTANCE, keepalivedConfig, type VrrpSettings } from './vrrp_config';

/** INIT until keepalived first reports; DOWN while keepalived is not running. */
export type VrrpState = 'INIT' | KeepalivedState | 'DOWN';
export const VRRP_STATES: readonly VrrpState[] = ['INIT', 'BACKUP', 'MASTER', 'FAULT', 'STOP', 'DOWN'];

export interface VrrpStatus {
  state: VrrpState;
  /** What the dataplane was last told: it answers for the VIPs. */
  owner: boolean;
  /** The configured priority, and the one keepalived last reported. */
  priority: number;
  reportedPriority?: number;
  virtualRouterId: number;
  advertInt: number;
  port: string;
  interface: string;
  preempt: boolean;
  /** Why this director is not fit to be MASTER (the track file holds 1), or [] when it is. */
  unfit: string[];
  drained: boolean;
  since: string;
  lastTransition?: { from: VrrpState; to: VrrpState; at: string };
  transitions: number;
  keepalived: { pid?: number; restarts: number };
}

/** How often the director's fitness (dataplane, port link, drain) is looked at. */
const FITNESS_MS = 250;

export interface VrrpOptions {
  settings: VrrpSettings;
  addon: Pick<NativeAddon, 'running' | 'ports' | 'setVipOwner'>;
  /** keepalived's files go in its keepalived/ subdirectory. */
  stateDir: string;
  log: KeepalivedLogger;
  /** keepalived's executable (default: keepalived on PATH). */
  keepalivedBinary?: string;
  /** Starts drained: the operator's drain, kept across the restart (drain_state.ts). */
  drained?: boolean;
}

export class Vrrp {
  private state: VrrpState = 'INIT';
  private owner = false;
  private reportedPriority?: number;
  private since = new Date();
  private last?: VrrpStatus['lastTransition'];
  private transitions = 0;
  private drained: boolean;
  private unfit: string[] = [];
  private written?: string;
  private timer?: NodeJS.Timeout;
  /** Ownership changes go to the dataplane one at a time, in order. */
  private chain: Promise<void> = Promise.resolve();
  private readonly keepalived: Keepalived;
  private listeners: Array<(status: VrrpStatus) => void> = [];
  private readonly trackFile: string;

  constructor(private readonly o: VrrpOptions) {
    this.drained = o.drained ?? false;
    const dir = path.join(o.stateDir, 'keepalived');
    const paths = keepalivedPaths(dir);
    this.trackFile = paths.trackFile;
    this.keepalived = new Keepalived({
      dir,
      config: keepalivedConfig(o.settings, paths),
      instance: INSTANCE,
      log: o.log,
      ...(o.keepalivedBinary ? { binary: o.keepalivedBinary } : {}),
      onState: (s, prio) => this.transition(s, prio),
      onDown: () => this.transition('DOWN'),
    });
  }

  /** Starts keepalived after writing the track file (fit or not, as of now). */
  start(): void {
    fs.mkdirSync(path.dirname(this.trackFile), { recursive: true, mode: 0o700 });
    this.checkFitness();
    this.keepalived.start();
    this.timer = setInterval(() => this.checkFitness(), FITNESS_MS);
    this.timer.unref();
  }

  /** Stops keepalived (the peer hears priority 0 and takes over) and gives up the VIPs. */
  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    await this.keepalived.stop();
    this.transition('STOP');
    await this.chain;
  }

  /** Calls `fn` after every transition, once the dataplane has taken the change of ownership
   * (what connection sync follows: a MASTER sends, a BACKUP receives, as keepalived's
   * lvs_sync_daemon does). Returns the unsubscribe function. */
  subscribe(fn: (status: VrrpStatus) => void): () => void {
    this.listeners.push(fn);
    return () => { this.listeners = this.listeners.filter((f) => f !== fn); };
  }

  /** The operator's drain: true makes this director unfit (FAULT), false undoes it. */
  setDrained(drained: boolean): void {
    this.drained = drained;
    this.checkFitness();
  }

  status(): VrrpStatus {
    const s = this.o.settings;
    return {
      state: this.state,
      owner: this.owner,
      priority: s.priority,
      ...(this.reportedPriority !== undefined ? { reportedPriority: this.reportedPriority } : {}),
      virtualRouterId: s.virtualRouterId,
      advertInt: s.advertInt,
      port: s.port,
      interface: s.iface,
      preempt: s.preempt,
      unfit: [...this.unfit],
      drained: this.drained,
      since: this.since.toISOString(),
      ...(this.last ? { lastTransition: { ...this.last } } : {}),
      transitions: this.transitions,
      keepalived: { ...(this.keepalived.pid !== undefined ? { pid: this.keepalived.pid } : {}), restarts: this.keepalived.restarts },
    };
  }

  /** Why this director should not be MASTER now; written to keepalived's track file on change. */
  private checkFitness(): void {
    const unfit: string[] = [];
    if (!this.o.addon.running()) {
      unfit.push('the dataplane is not running');
    } else {
      const port = this.o.addon.ports().find((p) => p.name === this.o.settings.port);
      if (!port) unfit.push(`port '${this.o.settings.port}' is not open`);
      else if (!port.linkUp) unfit.push(`port '${this.o.settings.port}' has no link`);
    }
    if (this.drained) unfit.push('drained by the operator (fulcrum drain)');
    const text = unfit.length ? '1\n' : '0\n';
    if (text === this.written) return;
    fs.writeFileSync(this.trackFile, text);
    this.written = text;
    if (unfit.length) this.o.log.warn({ unfit }, 'this director is not fit to hold the VIPs: keepalived goes to FAULT');
    else if (this.unfit.length) this.o.log.info({}, 'this director is fit to hold the VIPs again');
    this.unfit = unfit;
  }

  private transition(to: VrrpState, priority?: number): void {
    if (priority !== undefined) this.reportedPriority = priority;
    if (to === this.state) return;
    const from = this.state;
    const now = new Date();
    this.state = to;
    this.since = now;
    this.last = { from, to, at: now.toISOString() };
    this.transitions++;
    const own = to === 'MASTER';
    this.o.log.info({ from, to, ...(priority !== undefined ? { priority } : {}) },
      own ? 'VRRP MASTER: this director takes the VIPs' : `VRRP ${to}: ${from === 'MASTER' ? 'this director gives up the VIPs' : 'the VIPs stay with the peer'}`);
    this.chain = this.chain.then(() => this.publish(own)).then(() => {
      const status = this.status();
      for (const fn of this.listeners) {
        try { fn(status); } catch (e) { this.o.log.error({ err: (e as Error).message }, 'a VRRP state listener failed'); }
      }
    });
  }

  private async publish(own: boolean): Promise<void> {
    if (own === this.owner || !this.o.addon.running()) return;
    // A full command ring (a burst of API calls) refuses for now: try again shortly, the
    // state is still the one to publish (a later transition queues behind this).
    for (let attempt = 0; ; attempt++) {
      try {
        await this.o.addon.setVipOwner(own);
        this.owner = own;
        return;
      } catch (e) {
        if (!this.o.addon.running()) return;
        if (attempt === 0) this.o.log.warn({ err: (e as Error).message }, 'the dataplane did not take the VIP ownership change yet; retrying');
        await new Promise((r) => setTimeout(r, 20));
        if ((this.state === 'MASTER') !== own) return;  // overtaken by a newer transition
      }
    }
  }
}
