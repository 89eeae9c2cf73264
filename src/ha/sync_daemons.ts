// The connection sync daemons a director runs (the kernel's `ipvsadm --start-daemon`), as a
// desired list kept in the state directory (sync.json) and the dataplane's running daemons.
// The config file's `ha.sync.daemons` seeds the list on the first start and replaces it on
// reload; between reloads fvsadm and /v1/sync change it. Each change is apply → persist →
// acknowledge, and a failed persist undoes the apply: acknowledged means running and durable,
// refused means nothing changed. Callers run changes one at a time (the daemon's one writer).
import fs from 'node:fs';
import path from 'node:path';
import { Value } from '@sinclair/typebox/value';
import { Type } from '@sinclair/typebox';
import type { FulcrumConfig, SyncDaemonConfig } from '../control/config_schema';
import { SyncDaemonSchema } from '../control/config_schema';
import { ChangeRefused } from '../control/state';
import { StateFileError, writeFileAtomic } from '../control/state_store';
import type { SyncDaemonInfo, SyncDaemonOptions, SyncTunables } from '../native';
import { filledDaemon, syncDaemonProblems, tunablesOf, type SyncDaemon } from './sync_config';

export type { SyncDaemon } from './sync_config';

/** The addon's sync calls (native/addon): what this module drives. */
export interface SyncDataplane {
  syncStart(o: SyncDaemonOptions): void;
  syncStop(state: 'master' | 'backup'): boolean;
  syncDaemons(): SyncDaemonInfo[];
  syncTunables(t: SyncTunables): void;
}

/** A daemon as listed: its options and the dataplane's counters. */
export interface SyncDaemonView extends SyncDaemon {
  stats: Record<string, number>;
}

const FILE = 'sync.json';
const FileSchema = Type.Object({
  version: Type.Literal(1),
  daemons: Type.Array(SyncDaemonSchema, { maxItems: 2 }),
}, { additionalProperties: false });

const STATES = ['master', 'backup'] as const;
const nativeOf = (d: SyncDaemon): SyncDaemonOptions =>
  ({ state: d.state, port: d.interface, syncId: d.syncId, maxlen: d.maxlen, group: d.group, mcastPort: d.port, ttl: d.ttl });
/** The file holds what was asked, not the filled-in defaults (a later default applies). */
const asked = (d: SyncDaemonConfig): SyncDaemonConfig => {
  const out: SyncDaemonConfig = { state: d.state, interface: d.interface };
  for (const k of ['syncId', 'maxlen', 'group', 'port', 'ttl'] as const) if (d[k] !== undefined) (out as Record<string, unknown>)[k] = d[k];
  return out;
};

export class SyncDaemons {
  /** What runs, by state (at most one master and one backup, as in the kernel). */
  private readonly running = new Map<'master' | 'backup', SyncDaemonConfig>();

  private constructor(private readonly dp: SyncDataplane, readonly file: string,
    private readonly cfg: Pick<FulcrumConfig, 'dataplane' | 'ha'>, private readonly desired: SyncDaemonConfig[]) {}

  /**
   * The list to run: the state directory's, or for a director that never had one, the config
   * file's (written there now). A file that is not ours is refused naming it and the problem.
   */
  static open(dp: SyncDataplane, stateDir: string, cfg: Pick<FulcrumConfig, 'dataplane' | 'ha'>): SyncDaemons {
    const file = path.join(stateDir, FILE);
    let desired: SyncDaemonConfig[];
    let text: string | undefined;
    try {
      text = fs.readFileSync(file, 'utf8');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw new StateFileError(`${file}: cannot read: ${(e as NodeJS.ErrnoException).code}`);
    }
    if (text !== undefined) {
      let doc: unknown;
      try {
        doc = JSON.parse(text);
      } catch (e) {
        throw new StateFileError(`${file}: not JSON (${(e as Error).message}); it is not a sync daemon list this director wrote`);
      }
      if (!Value.Check(FileSchema, doc)) {
        const first = [...Value.Errors(FileSchema, doc)][0];
        throw new StateFileError(`${file}: not a sync daemon list this director wrote (${first ? `${first.path || '(top)'}: ${first.message}` : 'bad shape'})`);
      }
      desired = (doc as { daemons: SyncDaemonConfig[] }).daemons;
    } else {
      desired = (cfg.ha?.sync?.daemons ?? []).map(asked);
      writeFileAtomic(file, JSON.stringify({ version: 1, daemons: desired }) + '\n');
    }
    return new SyncDaemons(dp, file, cfg, desired);
  }

  /** The sync sysctls in force. */
  tunables: SyncTunables = tunablesOf(undefined);

  /** Sets the sysctls and starts the desired daemons; throws (starting none) when one cannot run. */
  startAll(): void {
    this.tunables = tunablesOf(this.cfg.ha?.sync);
    this.dp.syncTunables(this.tunables);
    try {
      for (const d of this.desired) this.startOne(d, `${this.file}: ${d.state} daemon`);
    } catch (e) {
      this.stopAll();
      throw e;
    }
  }

  /** Stops every daemon (the director stops; the desired list stays on disk). */
  stopAll(): void {
    for (const s of STATES) if (this.running.delete(s)) this.dp.syncStop(s);
  }

  /** `--start-daemon`: refused (400) when the options are wrong, 409 when one runs in that state. */
  start(d: SyncDaemonConfig): void {
    this.startOne(d, 'daemon');
    try {
      this.persist();
    } catch (e) {
      this.running.delete(d.state);
      this.dp.syncStop(d.state);
      throw e;
    }
  }

  /** `--stop-daemon`: 404 when none runs in that state. */
  stop(state: 'master' | 'backup'): void {
    const was = this.running.get(state);
    if (!was) throw new ChangeRefused(`no ${state} sync daemon is running`, [], 404);
    this.running.delete(state);
    this.dp.syncStop(state);
    try {
      this.persist();
    } catch (e) {
      this.startOne(was, 'daemon');
      throw e;
    }
  }

  /** Reload: the file's list and sysctls replace the running ones (unchanged daemons keep running). */
  replace(cfg: Pick<FulcrumConfig, 'ha'>): void {
    const next = (cfg.ha?.sync?.daemons ?? []).map(asked);
    const before = new Map(this.running);
    const same = (a?: SyncDaemonConfig, b?: SyncDaemonConfig) => JSON.stringify(a && asked(a)) === JSON.stringify(b && asked(b));
    const undo = () => {
      for (const s of STATES) {
        if (same(this.running.get(s), before.get(s))) continue;
        if (this.running.delete(s)) this.dp.syncStop(s);
        const b = before.get(s);
        if (b) this.startOne(b, 'daemon');
      }
    };
    try {
      for (const s of STATES) {
        const want = next.find((d) => d.state === s);
        if (same(this.running.get(s), want)) continue;
        if (this.running.delete(s)) this.dp.syncStop(s);
        if (want) this.startOne(want, `ha.sync.daemons: ${s} daemon`);
      }
      this.persist();
    } catch (e) {
      undo();
      throw e;
    }
    this.tunables = tunablesOf(cfg.ha?.sync);
    this.dp.syncTunables(this.tunables);
  }

  /** The running daemons, master first (as `ipvsadm -L --daemon` lists them), with counters. */
  list(): SyncDaemonView[] {
    const stats = new Map(this.dp.syncDaemons().map((n) => [n.state, n.stats]));
    return STATES.flatMap((s) => {
      const d = this.running.get(s);
      return d ? [{ ...filledDaemon(d), stats: stats.get(s) ?? {} }] : [];
    });
  }

  private startOne(d: SyncDaemonConfig, what: string): void {
    const problems = syncDaemonProblems(d, what, this.cfg);
    if (problems.length) throw new ChangeRefused(`the ${d.state} sync daemon is refused: ${problems.join('; ')}`, problems, 400);
    if (this.running.has(d.state)) throw new ChangeRefused(`a ${d.state} sync daemon is already running`, [], 409);
    try {
      this.dp.syncStart(nativeOf(filledDaemon(d)));
    } catch (e) {
      const err = e as Error & { code?: string };
      throw new ChangeRefused(`the ${d.state} sync daemon did not start: ${err.message}`, [err.message], err.code === 'EEXIST' ? 409 : 400);
    }
    this.running.set(d.state, d);
  }

  private persist(): void {
    const daemons = STATES.flatMap((s) => (this.running.has(s) ? [asked(this.running.get(s)!)] : []));
    writeFileAtomic(this.file, JSON.stringify({ version: 1, daemons }) + '\n');
  }
}
