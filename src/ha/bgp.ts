// VIP announcement by BGP (ha.bgp), for a tier of directors behind routers that spread flows
// over them (ECMP): BIRD (bird.ts) speaks the protocol with the routers; this file decides
// which VIPs it announces and tells it. A VIP (/32, or /128 for IPv6 when a session carries
// IPv6) is announced while the dataplane runs and
// every service on it has quorum (the health monitor's: enough live real servers), and
// withdrawn when one loses it, when the operator drains the director (`fulcrum drain`), and
// first thing in a graceful stop (then a moment's wait while the routers move the flows, then
// the stop). Each change and each session going up or down is logged once; GET /v1/ha and the
// metrics read status().
import path from 'node:path';
import { Bird, birdPaths, type BirdProtocol } from './bird';
import { birdConfig, carriedFamilies, vipPrefix, vipsConfig, type BgpSettings } from './bgp_config';
import { familyOf } from '../control/address';
import { ipv6Value } from '../control/cidr6';
import type { KeepalivedLogger as Logger } from './keepalived';

/** One service as the announcement needs it: its VIP (none for a fwmark service) and quorum. */
export interface BgpServiceView {
  vip?: string;
  hasQuorum: boolean;
}

export interface Withheld {
  prefix: string;
  reason: string;
}

/** Why nothing at all is announced now, or undefined. */
export interface DirectorCondition {
  dataplaneRunning: boolean;
  drained: boolean;
  stopping: boolean;
}

/** Which VIPs to announce: those whose every service has quorum, unless the director as a
 * whole is out (stopping, drained, dataplane down), and of a family some session carries
 * (`families`, default both). Sorted (IPv4 first), each once. */
export function chooseVips(services: Iterable<BgpServiceView>, c: DirectorCondition,
  families: ReadonlySet<4 | 6> = new Set([4, 6])): { announce: string[]; withheld: Withheld[] } {
  const quorum = new Map<string, boolean>();
  for (const s of services) if (s.vip) quorum.set(s.vip, (quorum.get(s.vip) ?? true) && s.hasQuorum);
  const whole = c.stopping ? 'the director is stopping' : c.drained ? 'drained by the operator (fulcrum drain)'
    : !c.dataplaneRunning ? 'the dataplane is not running' : undefined;
  const announce: string[] = [];
  const withheld: Withheld[] = [];
  for (const vip of [...quorum.keys()].sort(byAddress)) {
    const prefix = vipPrefix(vip);
    const family = familyOf(vip) ?? 4;
    if (whole) withheld.push({ prefix, reason: whole });
    else if (!families.has(family)) withheld.push({ prefix, reason: `no BGP session carries IPv${family} (no neighbour's port has an IPv${family} address)` });
    else if (!quorum.get(vip)) withheld.push({ prefix, reason: 'a service on it has no quorum' });
    else announce.push(vip);
  }
  return { announce, withheld };
}

/** IPv4 before IPv6, each by its numeric value. */
function byAddress(a: string, b: string): number {
  const n = (x: string): bigint => (familyOf(x) === 6 ? (1n << 128n) + ipv6Value(x)! : BigInt(x.split('.').reduce((v, o) => v * 256 + Number(o), 0)));
  const d = n(a) - n(b);
  return d < 0n ? -1 : d > 0n ? 1 : 0;
}

export interface BgpSession {
  neighbor: string;
  as: number;
  port: string;
  interface: string;
  /** BIRD's protocol state (up, start, down...) and its info (Established, Active, Connect...). */
  state: string;
  info: string;
  established: boolean;
  since?: string;
}

export interface BgpStatus {
  localAs: number;
  routerId: string;
  sessions: BgpSession[];
  announced: Array<{ prefix: string; since: string }>;
  withheld: Withheld[];
  drained: boolean;
  /** Announcement changes BIRD took since start. */
  changes: number;
  lastChange?: { announced: string[]; withdrawn: string[]; at: string };
  bird: { pid?: number; restarts: number };
}

/** How often quorum, drain and the dataplane are looked at, and the sessions asked for. */
const EVALUATE_MS = 200;
const SESSIONS_MS = 1000;

/** The VIP of a service named by its key (`tcp 198.18.0.100:80`, `tcp [2001:db8::1]:80`);
 * none for `fwmark 5` or `fwmark6 5`. */
export function vipOfKey(key: string): string | undefined {
  const m = /^(?:tcp|udp|sctp) (?:([0-9.]+)|\[([0-9a-f:.]+)\]):\d+$/.exec(key);
  return m?.[1] ?? m?.[2];
}

export interface BgpOptions {
  settings: BgpSettings;
  /** BIRD's files go in its bird/ subdirectory. */
  stateDir: string;
  log: Logger;
  services(): Iterable<BgpServiceView>;
  dataplaneRunning(): boolean;
  birdBinary?: string;
  birdcBinary?: string;
  /** Starts drained: the operator's drain, kept across the restart (drain_state.ts). */
  drained?: boolean;
}

export class Bgp {
  private readonly bird: Bird;
  private announced: string[] = [];
  private announcedSince = new Map<string, string>();
  private withheld: Withheld[] = [];
  private drained: boolean;
  private stopping = false;
  private changes = 0;
  private last?: BgpStatus['lastChange'];
  private sessions = new Map<string, BirdProtocol>();
  private evalTimer?: NodeJS.Timeout;
  private sessionTimer?: NodeJS.Timeout;
  /** Changes go to BIRD one at a time, in order. */
  private chain: Promise<void> = Promise.resolve();
  private busy = false;

  private readonly families: ReadonlySet<4 | 6>;

  constructor(private readonly o: BgpOptions) {
    this.drained = o.drained ?? false;
    this.families = carriedFamilies(o.settings);
    const dir = path.join(o.stateDir, 'bird');
    this.bird = new Bird({
      dir,
      config: birdConfig(o.settings, { v4: birdPaths(dir).vips, v6: birdPaths(dir).vips6 }),
      vips: vipsConfig([]),
      log: o.log,
      ...(o.birdBinary ? { binary: o.birdBinary } : {}),
      ...(o.birdcBinary ? { birdc: o.birdcBinary } : {}),
      // A restarted BIRD reads vips.conf, which says what was last announced: nothing to redo.
      onDown: () => this.sessions.clear(),
    });
  }

  /** Starts BIRD announcing nothing; the first evaluation (at once) announces what holds. */
  start(): void {
    this.bird.start();
    this.evaluate();
    this.evalTimer = setInterval(() => this.evaluate(), EVALUATE_MS);
    this.evalTimer.unref();
    this.sessionTimer = setInterval(() => void this.pollSessions(), SESSIONS_MS);
    this.sessionTimer.unref();
  }

  /** A graceful stop: every VIP withdrawn, a moment (withdrawDelay) for the routers to move
   * the flows while the dataplane still forwards them, then BIRD stopped (its Cease closes the
   * sessions). Resolves once BIRD is gone; the dataplane may stop then. */
  async stop(): Promise<void> {
    this.stopping = true;
    const had = this.announced.length > 0;
    await this.settled();
    if (this.evalTimer) clearInterval(this.evalTimer);
    if (this.sessionTimer) clearInterval(this.sessionTimer);
    if (had && this.o.settings.withdrawDelay > 0) {
      this.o.log.info({ seconds: this.o.settings.withdrawDelay }, 'BGP: VIPs withdrawn; waiting for the routers before the dataplane stops');
      await new Promise((r) => setTimeout(r, this.o.settings.withdrawDelay * 1000));
    }
    await this.bird.stop();
  }

  /** The operator's drain: true withdraws every VIP, false announces them again (quorum allowing). */
  setDrained(drained: boolean): void {
    this.drained = drained;
    this.evaluate();
  }

  /** Resolves once what holds now has reached BIRD (or BIRD refused it three times). */
  async settled(): Promise<void> {
    for (let i = 0; i < 3; i++) {
      this.evaluate();
      await this.chain;
      if (!this.busy && same(this.choose().announce, this.announced)) return;
    }
  }

  status(): BgpStatus {
    const s = this.o.settings;
    return {
      localAs: s.localAs,
      routerId: s.routerId,
      sessions: s.neighbors.map((n) => {
        const p = this.sessions.get(n.name);
        return { neighbor: n.address, as: n.as, port: n.port, interface: n.iface, state: p?.state ?? 'down',
          info: p?.info ?? (this.bird.running() ? '' : 'BIRD is not running'), established: p?.info.startsWith('Established') ?? false,
          ...(p ? { since: p.since } : {}) };
      }),
      announced: this.announced.map((v) => ({ prefix: vipPrefix(v), since: this.announcedSince.get(v)! })),
      withheld: this.withheld.map((w) => ({ ...w })),
      drained: this.drained,
      changes: this.changes,
      ...(this.last ? { lastChange: { ...this.last } } : {}),
      bird: { ...(this.bird.pid !== undefined ? { pid: this.bird.pid } : {}), restarts: this.bird.restarts },
    };
  }

  private choose() {
    return chooseVips(this.o.services(), this.condition(), this.families);
  }

  private evaluate(): void {
    const { announce, withheld } = this.choose();
    this.withheld = withheld;
    if (this.busy || same(announce, this.announced)) return;
    this.busy = true;
    this.chain = this.chain.then(() => this.apply(announce)).finally(() => { this.busy = false; });
  }

  private condition(): DirectorCondition {
    return { dataplaneRunning: this.o.dataplaneRunning(), drained: this.drained, stopping: this.stopping };
  }

  private async apply(want: string[]): Promise<void> {
    const before = new Set(this.announced);
    const after = new Set(want);
    const added = want.filter((v) => !before.has(v));
    const removed = this.announced.filter((v) => !after.has(v));
    try {
      await this.bird.announce(vipsConfig(want));
    } catch (e) {
      // Left as it was: the next evaluation tries again.
      this.o.log.error({ err: (e as Error).message }, 'BGP: BIRD did not take the change of announcements; retrying');
      return;
    }
    const at = new Date().toISOString();
    for (const v of added) this.announcedSince.set(v, at);
    for (const v of removed) this.announcedSince.delete(v);
    this.announced = want;
    this.changes++;
    this.last = { announced: added.map(vipPrefix), withdrawn: removed.map(vipPrefix), at };
    const reasons = Object.fromEntries(this.withheld.filter((w) => this.last!.withdrawn.includes(w.prefix)).map((w) => [w.prefix, w.reason]));
    this.o.log.info({ ...(added.length ? { announced: this.last.announced } : {}), ...(removed.length ? { withdrawn: this.last.withdrawn, reasons } : {}),
      total: want.length }, removed.length ? 'BGP: VIPs withdrawn' : 'BGP: VIPs announced');
  }

  private async pollSessions(): Promise<void> {
    let list: BirdProtocol[];
    try {
      list = (await this.bird.protocols()).filter((p) => p.proto === 'BGP');
    } catch {
      return;  // BIRD restarting, or busy: the next poll asks again
    }
    for (const p of list) {
      const n = this.o.settings.neighbors.find((x) => x.name === p.name);
      if (!n) continue;
      const was = this.sessions.get(p.name);
      const up = p.info.startsWith('Established');
      if ((was?.info.startsWith('Established') ?? false) !== up) {
        if (up) this.o.log.info({ neighbor: n.address, as: n.as, port: n.port }, 'BGP session established');
        else if (was) this.o.log.warn({ neighbor: n.address, as: n.as, port: n.port, state: p.state, info: p.info }, 'BGP session down');
      }
      this.sessions.set(p.name, p);
    }
  }
}

function same(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}
