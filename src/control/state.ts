// The desired state and its persistence. The operator's config (services, match rules,
// timeouts) changes only through change(): each change is validated whole, applied by the
// caller's apply function (the dataplane, as one snapshot), and only then written to
// state.json atomically (write, fsync, rename, fsync the directory) and acknowledged. Changes
// run one at a time. After a crash at any moment the file holds the last acknowledged state
// (or, if the crash came between the write and the reply, the one being acknowledged).
import fs from 'node:fs';
import path from 'node:path';
import { validateConfig } from './config_load';
import type { FulcrumConfig } from './config_schema';

/** The sections a running director can change; the rest needs a restart. */
export const DYNAMIC_KEYS = ['services', 'matchRules', 'timeouts', 'tunnelSource'] as const;
type DynamicPart = Pick<FulcrumConfig, (typeof DYNAMIC_KEYS)[number]>;

export function writeFileAtomic(file: string, data: string): void {
  const tmp = `${file}.tmp-${process.pid}`;
  const fd = fs.openSync(tmp, 'w', 0o600);
  try {
    fs.writeSync(fd, data);
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
  fs.renameSync(tmp, file);
  const dfd = fs.openSync(path.dirname(file), 'r');
  try { fs.fsyncSync(dfd); } finally { fs.closeSync(dfd); }
}

export function dynamicPart(cfg: FulcrumConfig): DynamicPart {
  const out: DynamicPart = {};
  for (const k of DYNAMIC_KEYS) if (cfg[k] !== undefined) (out as Record<string, unknown>)[k] = structuredClone(cfg[k]);
  return out;
}

/** The file's static sections with a dynamic part put in their place. */
export function withDynamic(base: FulcrumConfig, dyn: DynamicPart): FulcrumConfig {
  const out = structuredClone(base) as Record<string, unknown>;
  for (const k of DYNAMIC_KEYS) delete out[k];
  return { ...(out as FulcrumConfig), ...structuredClone(dyn) };
}

export class ChangeRefused extends Error {
  constructor(message: string, readonly problems: string[] = [], readonly status = 400) {
    super(message);
  }
}

export class DesiredState {
  private cfg: FulcrumConfig;
  private queue: Promise<unknown> = Promise.resolve();
  readonly file: string;
  /** How many changes were acknowledged since start (the API reports it). */
  generation = 0;

  private constructor(cfg: FulcrumConfig, stateDir: string) {
    this.cfg = cfg;
    this.file = path.join(stateDir, 'state.json');
  }

  /** The state to start from: the last persisted dynamic part over the file's static part, or
   * the file alone when nothing was persisted yet. `restored` says which. */
  static open(fileCfg: FulcrumConfig, stateDir: string): { state: DesiredState; restored: boolean } {
    fs.mkdirSync(stateDir, { recursive: true });
    const file = path.join(stateDir, 'state.json');
    let cfg = fileCfg;
    let restored = false;
    if (fs.existsSync(file)) {
      const saved = JSON.parse(fs.readFileSync(file, 'utf8')) as { dynamic: DynamicPart };
      cfg = validateConfig(withDynamic(fileCfg, saved.dynamic), file);
      restored = true;
    }
    const st = new DesiredState(cfg, stateDir);
    if (!restored) st.persist();
    return { state: st, restored };
  }

  get current(): FulcrumConfig { return structuredClone(this.cfg); }

  /** Runs one change: `edit` returns the next config (from a copy of the current one), which is
   * validated, applied and persisted before the promise resolves. A refused change changes
   * nothing. */
  change<T>(edit: (draft: FulcrumConfig) => T, apply: (next: FulcrumConfig) => Promise<void>): Promise<T> {
    const run = async () => {
      const draft = structuredClone(this.cfg);
      const result = edit(draft);
      let next: FulcrumConfig;
      try {
        next = validateConfig(draft, 'change');
      } catch (e) {
        const problems = (e as { problems?: string[] }).problems ?? [(e as Error).message];
        throw new ChangeRefused('the change is refused: ' + problems.join('; '), problems);
      }
      await apply(next);
      this.cfg = next;
      this.persist();
      this.generation++;
      return result;
    };
    const p = this.queue.then(run, run);
    this.queue = p.catch(() => undefined);
    return p;
  }

  private persist(): void {
    writeFileAtomic(this.file, JSON.stringify({ version: 1, savedAt: new Date().toISOString(), dynamic: dynamicPart(this.cfg) }, null, 2) + '\n');
  }
}
