// The desired state: the operator's services, match rules, timeouts and tunnel source, and the
// only way to change them. A change is made on a Draft (copy-on-write: it holds only what it
// touched, so it costs what it changes, not the size of the table), checked (only the
// services it touched, plus the table-wide limits kept as running counts), then persisted as
// one journal record and committed. Committed services are frozen: they are shared by
// reference with the dataplane builder, the health monitor and the compactor, never copied.
// Callers order the steps (src/control/daemon.ts: apply and persist at once → commit →
// acknowledge; a persisted change the dataplane refused is retracted).
import { ConfigError, validateConfig, validateService, readablePath } from './config_load';
import { MatchRuleSchema, timeoutsOf, type FulcrumConfig, type MatchRuleConfig, type ServiceConfig } from './config_schema';
import { schemaProblems } from './config_errors';
import { fileOnlyProblems } from './file_only';
import { breathe } from './slices';
import { jsonItemPieces, TextPieces } from './text_pieces';
import { normalizeService, serviceId } from './identity';
import { DYNAMIC_KEYS, StateFileError, StateStore, type JournalRecord, type StoreOptions } from './state_store';
import { limitsOf } from './dataplane_options';

export { DYNAMIC_KEYS } from './state_store';

export type Timeouts = NonNullable<FulcrumConfig['timeouts']>;
export type DynamicPart = Pick<FulcrumConfig, (typeof DYNAMIC_KEYS)[number]>;

/** A change that must not happen, with every problem by its path; `status` is the HTTP one. */
export class ChangeRefused extends Error {
  constructor(message: string, readonly problems: string[] = [], readonly status = 400) {
    super(message);
  }
}

function deepFreeze<T>(v: T): T {
  if (v && typeof v === 'object' && !Object.isFrozen(v)) {
    Object.freeze(v);
    for (const x of Object.values(v as Record<string, unknown>)) deepFreeze(x);
  }
  return v;
}

/** The static sections of a config (what needs a restart), without the dynamic ones. */
export function staticPart(cfg: FulcrumConfig): FulcrumConfig {
  const out = { ...cfg } as Record<string, unknown>;
  for (const k of DYNAMIC_KEYS) delete out[k];
  return out as FulcrumConfig;
}

/**
 * A change in the making. It reads through to the committed state and records only what it
 * touches; mark()/rollback() undo the writes since a mark (a batch skips a failed op so), and
 * keep() ends a mark without undoing. How to undo a write is recorded only while a mark is
 * open: kept for a whole restore, the log held every intermediate version of every service
 * (ten per service as its real servers were added) until the change ended.
 */
export class Draft {
  private readonly over = new Map<string, ServiceConfig | null>();
  /** Committed ids deleted (even if added again later, then in `appended`). */
  private readonly removedBase = new Set<string>();
  /** Ids that are new to the committed state (after its deletions), in the order added. */
  private readonly appended = new Map<string, true>();
  private cleared = false;
  private undo: Array<() => void> = [];
  /** Marks open (undo is recorded while there are). */
  private marks = 0;
  timeouts?: Timeouts;
  matchRules?: MatchRuleConfig[];
  /** undefined: unchanged; null: removed. */
  tunnelSource?: string | null;
  tunnelSource6?: string | null;

  constructor(private readonly base: DesiredState) {}

  get(id: string): ServiceConfig | undefined {
    if (this.over.has(id)) return this.over.get(id) ?? undefined;
    return this.cleared ? undefined : this.base.service(id);
  }

  has(id: string): boolean { return this.get(id) !== undefined; }

  /** Adds or replaces a service whole (never mutate what get() returned: build a new object). */
  put(id: string, s: ServiceConfig): void {
    const had = this.over.has(id);
    const prev = this.over.get(id);
    const wasAppended = this.appended.has(id);
    const wasRemoved = this.removedBase.has(id);
    if (!this.has(id)) this.appended.set(id, true);
    this.over.set(id, s);
    if (this.marks) this.undo.push(() => {
      if (had) this.over.set(id, prev!); else this.over.delete(id);
      if (!wasAppended) this.appended.delete(id);
      if (!wasRemoved) this.removedBase.delete(id);
    });
  }

  delete(id: string): void {
    const had = this.over.has(id);
    const prev = this.over.get(id);
    const wasAppended = this.appended.has(id);
    const wasRemoved = this.removedBase.has(id);
    if (wasAppended) this.appended.delete(id);
    else if (!this.cleared) this.removedBase.add(id);
    this.over.set(id, null);
    if (this.marks) this.undo.push(() => {
      if (had) this.over.set(id, prev!); else this.over.delete(id);
      if (wasAppended) this.appended.set(id, true);
      if (!wasRemoved) this.removedBase.delete(id);
    });
  }

  /** Every service goes (ipvsadm -C). */
  clear(): void {
    const saved = this.marks ? { over: new Map(this.over), removed: new Set(this.removedBase), appended: new Map(this.appended), cleared: this.cleared } : undefined;
    this.cleared = true;
    this.over.clear();
    this.removedBase.clear();
    this.appended.clear();
    if (saved) this.undo.push(() => {
      this.cleared = saved.cleared;
      for (const [k, v] of saved.over) this.over.set(k, v);
      for (const k of saved.removed) this.removedBase.add(k);
      for (const k of saved.appended.keys()) this.appended.set(k, true);
    });
  }

  setTimeouts(t: Timeouts): void {
    const prev = this.timeouts;
    this.timeouts = t;
    if (this.marks) this.undo.push(() => { this.timeouts = prev; });
  }

  setMatchRules(r: MatchRuleConfig[]): void {
    const prev = this.matchRules;
    this.matchRules = r;
    if (this.marks) this.undo.push(() => { this.matchRules = prev; });
  }

  setTunnelSource(t: string | null): void {
    const prev = this.tunnelSource;
    this.tunnelSource = t;
    if (this.marks) this.undo.push(() => { this.tunnelSource = prev; });
  }

  setTunnelSource6(t: string | null): void {
    const prev = this.tunnelSource6;
    this.tunnelSource6 = t;
    if (this.marks) this.undo.push(() => { this.tunnelSource6 = prev; });
  }

  /** The document's services, match rules, timeouts and tunnel source replace all of them;
   * what it leaves out goes back to the defaults (a restore, a reload of the file). */
  replaceAll(doc: DynamicPart): void {
    this.clear();
    for (const s of doc.services ?? []) this.put(serviceId(s), s);
    this.setTimeouts(timeoutsOf(doc.timeouts));
    this.setMatchRules(doc.matchRules ?? []);
    this.setTunnelSource(doc.tunnelSource ?? null);
    this.setTunnelSource6(doc.tunnelSource6 ?? null);
  }

  /** The timeouts as they stand in this draft. */
  currentTimeouts(): Timeouts { return this.timeouts ?? this.base.timeouts; }

  mark(): number {
    this.marks++;
    return this.undo.length;
  }

  /** Undoes the writes since the mark, and ends it. */
  rollback(mark: number): void {
    while (this.undo.length > mark) this.undo.pop()!();
    this.end();
  }

  /** Keeps the writes since the mark, and ends it. */
  keep(_mark: number): void { this.end(); }

  private end(): void {
    if (--this.marks === 0) this.undo.length = 0;
  }

  /** Ids of the services in this draft, in order (committed ones, then new ones). */
  *ids(): IterableIterator<string> {
    if (!this.cleared) for (const id of this.base.ids()) if (!this.removedBase.has(id)) yield id;
    yield* this.appended.keys();
  }

  /** What changed, for the checker and the journal (internal to this module). */
  touched() {
    return { over: this.over, removedBase: this.removedBase, appended: this.appended, cleared: this.cleared };
  }
}

/** A checked change, ready to apply, persist and commit. */
export interface CheckedChange {
  draft: Draft;
  /** Final values of the services added or replaced, normalized and frozen, in journal order. */
  put: ServiceConfig[];
  /** Their ids, in the same order. */
  putIds: string[];
  /** Committed service ids that go (a service removed and added again is in both). */
  del: string[];
  clear: boolean;
  timeouts?: Timeouts;
  matchRules?: MatchRuleConfig[];
  tunnelSource?: string | null;
  tunnelSource6?: string | null;
}

export class DesiredState {
  private readonly services_ = new Map<string, ServiceConfig>();
  private dests = 0;
  private timeouts_: Timeouts | undefined;
  private matchRules_: MatchRuleConfig[] | undefined;
  private tunnelSource_: string | undefined;
  private tunnelSource6_: string | undefined;
  /** Journal bytes as of the last commit (where a compaction started now would cover). */
  private committedJournalBytes = 0;
  private compaction?: Promise<void>;
  /** How many changes were acknowledged since start (the API reports it). */
  generation = 0;

  private constructor(readonly staticCfg: FulcrumConfig, private readonly store: StateStore,
    private readonly limits: { maxServices: number; maxDests: number },
    private readonly onCompactError: (e: Error) => void) {}

  get file(): string { return this.store.baseFile; }
  get dir(): string { return this.store.dir; }

  /**
   * The state to start from: the state directory's (base plus journal), checked whole as the
   * config file is, over the file's static sections; or, for an empty directory, the file's
   * own dynamic sections (`seed`, already stripped of file-only attributes), written as the
   * first base. Files that are not ours are refused with a message naming them.
   */
  static open(fileCfg: FulcrumConfig, seed: DynamicPart, stateDir: string,
    onCompactError: (e: Error) => void = () => undefined, opts: StoreOptions = {}): { state: DesiredState; restored: boolean } {
    const { store, loaded } = StateStore.open(stateDir, opts);
    try {
      const st = new DesiredState(staticPart(fileCfg), store, limitsOf(fileCfg), onCompactError);
      let dyn: DynamicPart;
      if (loaded) {
        const d = loaded.dynamic as Record<string, unknown>;
        const services = new Map<string, unknown>();
        for (const s of (Array.isArray(d.services) ? d.services : []) as ServiceConfig[]) services.set(serviceId(s), s);
        const rest: Record<string, unknown> = { ...d };
        for (const rec of loaded.records) replay(rec, services, rest);
        dyn = { ...rest, services: [...services.values()] } as DynamicPart;
        if (!(dyn.services?.length)) delete dyn.services;
        const where = loaded.records.length ? `${store.baseFile} and ${store.journalFile}` : store.baseFile;
        const fileOnly = fileOnlyProblems(dyn, '');
        if (fileOnly.length) throw new StateFileError(`${where}: holds what only the config file may carry:\n  ${fileOnly.join('\n  ')}`);
        try {
          validateConfig({ ...st.staticCfg, ...dyn }, where);
        } catch (e) {
          if (e instanceof ConfigError) throw new StateFileError(e.message);
          throw e;
        }
      } else {
        dyn = seed;
        store.writeInitial(dyn as Record<string, unknown>);
      }
      st.load(dyn);
      if (loaded?.records.length) store.rebase(st.dynamic() as Record<string, unknown>);
      st.committedJournalBytes = store.journalSize;
      return { state: st, restored: loaded !== undefined };
    } catch (e) {
      store.close();
      throw e;
    }
  }

  private load(dyn: DynamicPart): void {
    for (const s of dyn.services ?? []) {
      const n = deepFreeze(normalizeService(s));
      this.services_.set(serviceId(n), n);
      this.dests += n.realServers?.length ?? 0;
    }
    this.timeouts_ = dyn.timeouts ? deepFreeze({ ...dyn.timeouts }) : undefined;
    this.matchRules_ = dyn.matchRules ? deepFreeze(dyn.matchRules) : undefined;
    this.tunnelSource_ = dyn.tunnelSource;
    this.tunnelSource6_ = dyn.tunnelSource6;
  }

  // ---- reading ------------------------------------------------------------------------------

  service(id: string): ServiceConfig | undefined { return this.services_.get(id); }
  ids(): IterableIterator<string> { return this.services_.keys(); }
  services(): IterableIterator<ServiceConfig> { return this.services_.values(); }
  get serviceCount(): number { return this.services_.size; }
  get serverCount(): number { return this.dests; }
  /** With the kernel's defaults filled in. */
  get timeouts(): Timeouts { return timeoutsOf(this.timeouts_); }
  get matchRules(): readonly MatchRuleConfig[] { return this.matchRules_ ?? []; }
  get tunnelSource(): string | undefined { return this.tunnelSource_; }
  get tunnelSource6(): string | undefined { return this.tunnelSource6_; }

  /** The dynamic part as a document (O(table): saves and diffs, not the change path). */
  dynamic(): DynamicPart {
    const out: DynamicPart = {};
    if (this.services_.size) out.services = [...this.services_.values()];
    if (this.matchRules_) out.matchRules = [...this.matchRules_];
    if (this.timeouts_) out.timeouts = { ...this.timeouts_ };
    if (this.tunnelSource_ !== undefined) out.tunnelSource = this.tunnelSource_;
    if (this.tunnelSource6_ !== undefined) out.tunnelSource6 = this.tunnelSource6_;
    return out;
  }

  /** The whole config: the file's static sections with the desired dynamic part. */
  config(): FulcrumConfig { return { ...this.staticCfg, ...this.dynamic() }; }

  // ---- changing -----------------------------------------------------------------------------

  draft(): Draft { return new Draft(this); }

  /** Checks what a draft touched; throws ChangeRefused listing every problem. A large draft
   * (a restore) is checked in slices, letting the event loop serve others between them. */
  async check(draft: Draft): Promise<CheckedChange> {
    const { over, removedBase, appended, cleared } = draft.touched();
    const problems: string[] = [];
    let forbidden = false;
    const put: ServiceConfig[] = [];
    const putIds: string[] = [];
    let services = cleared ? 0 : this.services_.size - removedBase.size;
    let dests = cleared ? 0 : this.dests;
    if (!cleared) for (const id of removedBase) dests -= this.services_.get(id)?.realServers?.length ?? 0;
    const ctx = { localAddresses: this.staticCfg.localAddresses };
    const slice = { start: performance.now() };
    const take = (id: string, s: ServiceConfig) => {
      const at = `services[${id}]`;
      const fileOnly = fileOnlyProblems(s, at);
      if (fileOnly.length) forbidden = true;
      const p = fileOnly.length ? fileOnly : validateService(s, at, ctx);
      if (p.length) { problems.push(...p); return; }
      if (serviceId(s) !== id) { problems.push(`${at}: names service ${serviceId(s)}`); return; }
      // The rules already key real servers at their normalized port (two DR servers given
      // different ports at one address are one, as in the kernel).
      put.push(deepFreeze(normalizeService(s)));
      putIds.push(id);
    };
    // Replaced in place first (their order is kept), then the new ones in the order added.
    for (const [id, s] of over) {
      if (!s || appended.has(id)) continue;
      await breathe(slice);
      take(id, s);
      dests += (s.realServers?.length ?? 0) - (this.services_.get(id)?.realServers?.length ?? 0);
    }
    for (const id of appended.keys()) {
      await breathe(slice);
      const s = over.get(id)!;
      take(id, s);
      services++;
      dests += s.realServers?.length ?? 0;
    }
    if (services > this.limits.maxServices)
      problems.push(`services: ${services} services, more than dataplane.maxServices (${this.limits.maxServices}); raise it (needs a restart)`);
    if (dests > this.limits.maxDests)
      problems.push(`services: ${dests} real servers, more than dataplane.maxRealServers (${this.limits.maxDests}); raise it (needs a restart)`);
    if (draft.matchRules) {
      draft.matchRules.forEach((r, i) => {
        for (const e of schemaProblems(MatchRuleSchema, r)) problems.push(`matchRules[${i}]${readablePath(e.path) ? '.' + readablePath(e.path) : ''}: ${e.message}`);
      });
      if (!problems.length) {
        try {
          validateConfig({ dataplane: this.staticCfg.dataplane, matchRules: draft.matchRules }, 'change');
        } catch (e) {
          problems.push(...((e as ConfigError).problems ?? [(e as Error).message]));
        }
      }
    }
    if (draft.tunnelSource || draft.tunnelSource6) {
      try {
        validateConfig({ dataplane: this.staticCfg.dataplane, ...(draft.tunnelSource ? { tunnelSource: draft.tunnelSource } : {}),
          ...(draft.tunnelSource6 ? { tunnelSource6: draft.tunnelSource6 } : {}) }, 'change');
      } catch (e) {
        problems.push(...((e as ConfigError).problems ?? [(e as Error).message]));
      }
    }
    // What only the config file may carry is forbidden (403) here as at the API's door: this
    // check is the backstop for every path into the state, the door only answers sooner.
    if (problems.length) throw new ChangeRefused(`the change is refused: ${problems.join('; ')}`, problems, forbidden ? 403 : 400);
    return {
      draft, put, putIds, del: cleared ? [...this.services_.keys()] : [...removedBase], clear: cleared,
      ...(draft.timeouts ? { timeouts: draft.timeouts } : {}),
      ...(draft.matchRules ? { matchRules: draft.matchRules } : {}),
      ...(draft.tunnelSource !== undefined ? { tunnelSource: draft.tunnelSource } : {}),
      ...(draft.tunnelSource6 !== undefined ? { tunnelSource6: draft.tunnelSource6 } : {}),
    };
  }

  /** Makes a checked change durable (one journal record) and returns its seq; throws
   * PersistError, changing nothing. The record is built a slice at a time, as UTF-8 pieces of
   * about 64 KiB. */
  async persist(c: CheckedChange): Promise<number> {
    const text = new TextPieces();
    const field = (t: string) => text.add(text.empty ? t : ',' + t);
    if (c.clear) field('"clear":true');
    else if (c.del.length) field(`"del":${JSON.stringify(c.del)}`);
    if (c.put.length) {
      const slice = { start: performance.now() };
      field('"put":[');
      for (let i = 0; i < c.put.length; i++) {
        await breathe(slice);
        text.add(i ? ',' + JSON.stringify(c.put[i]) : JSON.stringify(c.put[i]));
      }
      text.add(']');
    }
    if (c.timeouts) field(`"timeouts":${JSON.stringify(c.timeouts)}`);
    if (c.matchRules) field(`"matchRules":${JSON.stringify(c.matchRules)}`);
    if (c.tunnelSource !== undefined) field(`"tunnelSource":${JSON.stringify(c.tunnelSource)}`);
    if (c.tunnelSource6 !== undefined) field(`"tunnelSource6":${JSON.stringify(c.tunnelSource6)}`);
    return this.store.append(text.take());
  }

  /** Takes back a persisted change that will not be committed (the dataplane refused it);
   * throws PersistError when the journal cannot be cut now (the next append cuts it). */
  retract(seq: number): Promise<void> { return this.store.retract(seq); }

  /** Makes a persisted change the state (synchronous: nothing can read a half-committed one). */
  commit(c: CheckedChange): void {
    if (c.clear) {
      this.services_.clear();
      this.dests = 0;
    } else {
      for (const id of c.del) {
        this.dests -= this.services_.get(id)?.realServers?.length ?? 0;
        this.services_.delete(id);
      }
    }
    for (let i = 0; i < c.put.length; i++) {
      const s = c.put[i];
      const id = c.putIds[i];
      this.dests += (s.realServers?.length ?? 0) - (this.services_.get(id)?.realServers?.length ?? 0);
      this.services_.set(id, s);  // frozen by check()
    }
    if (c.timeouts) this.timeouts_ = deepFreeze({ ...c.timeouts });
    if (c.matchRules) this.matchRules_ = deepFreeze(c.matchRules);
    if (c.tunnelSource !== undefined) this.tunnelSource_ = c.tunnelSource ?? undefined;
    if (c.tunnelSource6 !== undefined) this.tunnelSource6_ = c.tunnelSource6 ?? undefined;
    this.generation++;
    this.committedJournalBytes = this.store.journalSize;
    if (this.store.wantsCompaction() && !this.compaction) this.startCompaction();
  }

  /** Writes a new base in the background; its failure is reported, the journal keeps everything. */
  private startCompaction(): void {
    const seq = this.store.lastSeq;
    const at = this.committedJournalBytes;
    const snapshot = { services: [...this.services_.values()], rest: this.dynamic() };
    delete snapshot.rest.services;
    this.compaction = this.store.compact(seq, at, chunksOf(snapshot.services, snapshot.rest))
      .catch((e: Error) => this.onCompactError(e))
      .finally(() => { this.compaction = undefined; });
  }

  /** Waits for a compaction in progress (tests, stop). */
  async settled(): Promise<void> { await this.compaction; }

  close(): void { this.store.close(); }
}

/** The dynamic part as JSON in pieces, yielding to the event loop between slices. */
function chunksOf(services: ServiceConfig[], rest: DynamicPart): AsyncIterable<Buffer> {
  const head = JSON.stringify(rest);
  return jsonItemPieces(services, (s) => s, { open: head.slice(0, -1) + (head.length > 2 ? ',' : '') + '"services":[', sep: ',', close: ']}' });
}

/** One journal record over a loaded dynamic part (start-up replay). */
function replay(rec: JournalRecord, services: Map<string, unknown>, rest: Record<string, unknown>): void {
  if (rec.clear) services.clear();
  for (const id of rec.del ?? []) services.delete(id);
  for (const s of rec.put ?? []) services.set(serviceId(s as ServiceConfig), s);
  if (rec.timeouts !== undefined) rest.timeouts = rec.timeouts;
  if (rec.matchRules !== undefined) rest.matchRules = rec.matchRules;
  if (rec.tunnelSource === null) delete rest.tunnelSource;
  else if (rec.tunnelSource !== undefined) rest.tunnelSource = rec.tunnelSource;
  if (rec.tunnelSource6 === null) delete rest.tunnelSource6;
  else if (rec.tunnelSource6 !== undefined) rest.tunnelSource6 = rec.tunnelSource6;
  delete rest.services;
}
