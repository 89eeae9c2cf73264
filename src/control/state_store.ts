// The desired state on disk, kill -9 safe and cheap per change. Two files in the state
// directory:
//   state.json     a base: the whole dynamic part as of change `seq` (written atomically:
//                  write, fsync, rename, fsync the directory);
//   journal.jsonl  one line per acknowledged change after the base ({"seq":N,...}), appended
//                  and fdatasync'ed before the change is acknowledged.
// So a change costs one small append, not a rewrite of 10,000 services. When the journal grows
// past its budget, a compaction writes a new base in the background (in slices, so the event
// loop never stalls) and then drops the journal lines the base covers. A crash anywhere
// leaves a readable pair: a torn last journal line was never acknowledged and is dropped;
// lines the base already covers are skipped. A `lock` file holding the owner's pid keeps a
// second director off the same directory; leftover `*.tmp-*` files from crashes are removed.
import fs from 'node:fs';
import path from 'node:path';

/** The sections a running director can change; the rest needs a restart. */
export const DYNAMIC_KEYS = ['services', 'matchRules', 'timeouts', 'tunnelSource', 'tunnelSource6'] as const;

/** One acknowledged change as the journal holds it; replayed in this order: clear, del, put. */
export interface JournalRecord {
  seq: number;
  clear?: true;
  del?: string[];
  /** Services added or replaced whole, in the order they take (new ones go last). */
  put?: unknown[];
  timeouts?: unknown;
  matchRules?: unknown;
  /** null: removed. */
  tunnelSource?: string | null;
  tunnelSource6?: string | null;
}

export interface LoadedState {
  seq: number;
  dynamic: Record<string, unknown>;
  records: JournalRecord[];
}

/** A state directory we cannot use, or files in it that are not ours; the message names the
 * file and what is wrong. */
export class StateFileError extends Error {}

/** Writing the state directory failed: the change it was for is not acknowledged. */
export class PersistError extends Error {
  constructor(readonly file: string, readonly code: string, detail: string) {
    super(`cannot write ${file}: ${code}${detail ? ` (${detail})` : ''}; the change was not applied`);
  }
}

const BASE = 'state.json';
const JOURNAL = 'journal.jsonl';
const LOCK = 'lock';

/** The pid of another live director holding the directory's lock, if any. Our own pid in the
 * file is a previous life's (a container's pid 1 restarting), unless this very process holds
 * the directory already. */
export function lockHolder(dir: string): number | undefined {
  let text: string;
  try {
    text = fs.readFileSync(path.join(dir, LOCK), 'utf8');
  } catch (e) {
    if (errCode(e) === 'ENOENT') return undefined;
    throw e;
  }
  const pid = Number.parseInt(text, 10);
  const ours = pid === process.pid && !HELD.has(path.resolve(dir));
  return Number.isInteger(pid) && pid > 0 && !ours && isLive(pid) ? pid : undefined;
}

export const inUseBy = (dir: string, pid: number) =>
  `state directory ${dir} is in use by another director (pid ${pid}, see ${path.join(dir, LOCK)}); stop it or use another --state-dir`;
const FORMAT_VERSIONS = [1, 2];
/** The version this director writes. */
const WRITTEN_VERSION = 2;
/** State directories this process holds (a second open of one is refused). */
const HELD = new Set<string>();
/** Compact once the journal holds this much more than a tenth of the base (and at least 4 MiB). */
const COMPACT_MIN_BYTES = 4 << 20;
/** Records this large are written without holding the event loop. */
const LARGE_RECORD = 256 << 10;

function fsyncDir(dir: string): void {
  const fd = fs.openSync(dir, 'r');
  try { fs.fsyncSync(fd); } finally { fs.closeSync(fd); }
}

/** A system call's failure (it has an errno code), as opposed to a bug. */
function isErrno(e: unknown): boolean {
  return typeof (e as NodeJS.ErrnoException)?.code === 'string' && typeof (e as NodeJS.ErrnoException).syscall === 'string';
}

function errCode(e: unknown): string {
  return (e as NodeJS.ErrnoException).code ?? (e as Error).message;
}

const ERRNO_TEXT: Record<string, string> = {
  ENOSPC: 'no space left on device', EROFS: 'read-only file system', EACCES: 'permission denied',
  EDQUOT: 'disk quota exceeded', EIO: 'input/output error', EPERM: 'operation not permitted',
};

function persistError(file: string, e: unknown): PersistError {
  const code = errCode(e);
  return new PersistError(file, code, ERRNO_TEXT[code] ?? '');
}

/** `length` bytes of a file from `offset`. */
function readRange(file: string, offset: number, length: number): Buffer {
  const buf = Buffer.alloc(length);
  const fd = fs.openSync(file, 'r');
  try {
    let done = 0;
    while (done < length) {
      const n = fs.readSync(fd, buf, done, length - done, offset + done);
      if (n === 0) throw new Error(`${file}: ${length - done} bytes fewer than expected`);
      done += n;
    }
  } finally {
    fs.closeSync(fd);
  }
  return buf;
}

/** Writes a whole file atomically (temp file, fsync, rename, fsync the directory); throws
 * PersistError, leaving the file as it was. */
export function writeFileAtomic(file: string, data: string | Buffer): void {
  const tmp = `${file}.tmp-${process.pid}`;
  try {
    const fd = fs.openSync(tmp, 'w', 0o600);
    try {
      fs.writeSync(fd, typeof data === 'string' ? Buffer.from(data) : data);
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
    fs.renameSync(tmp, file);
    fsyncDir(path.dirname(file));
  } catch (e) {
    try { fs.unlinkSync(tmp); } catch (u) { if (!isErrno(u)) throw u; /* not there, or the directory is unusable: e says why */ }
    throw persistError(file, e);
  }
}

function isLive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return errCode(e) === 'EPERM';
  }
}

export interface StoreOptions {
  /** The journal size past which a compaction starts (tests make it small). */
  compactMinBytes?: number;
}

export class StateStore {
  readonly dir: string;
  readonly baseFile: string;
  readonly journalFile: string;
  /** Bytes of the journal that hold acknowledged records (a failed append is cut back to it). */
  private journalBytes = 0;
  /** The length of the last record appended (0: none to take back). */
  private lastLength = 0;
  private baseBytes = 0;
  private seq = 0;
  private compacting = false;
  /** A large append in progress (the compaction's journal swap waits for it). */
  private appending?: Promise<void>;
  private lockHeld = false;

  private constructor(dir: string, private readonly compactMinBytes: number) {
    this.dir = dir;
    this.baseFile = path.join(dir, BASE);
    this.journalFile = path.join(dir, JOURNAL);
  }

  get lastSeq(): number { return this.seq; }

  /** Opens (and locks) a state directory and reads what it holds; `undefined` when empty. */
  static open(dir: string, opts: StoreOptions = {}): { store: StateStore; loaded: LoadedState | undefined } {
    const st = new StateStore(dir, opts.compactMinBytes ?? COMPACT_MIN_BYTES);
    try {
      fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
    } catch (e) {
      throw new StateFileError(`state directory ${dir}: cannot create it: ${errCode(e)}`);
    }
    st.lock();
    try {
      st.removeLeftovers();
      const loaded = st.read();
      return { store: st, loaded };
    } catch (e) {
      st.close();
      throw e;
    }
  }

  private lock(): void {
    const file = path.join(this.dir, LOCK);
    for (let attempt = 0; attempt < 2; attempt++) {
      try {
        const fd = fs.openSync(file, 'wx', 0o600);
        fs.writeSync(fd, `${process.pid}\n`);
        fs.closeSync(fd);
        this.lockHeld = true;
        HELD.add(path.resolve(this.dir));
        return;
      } catch (e) {
        const code = errCode(e);
        // A read-only directory cannot be changed by anyone: no lock is needed to read it, and
        // every change will be refused with the reason.
        if (code === 'EROFS') return;
        if (code !== 'EEXIST') throw new StateFileError(`state directory ${this.dir}: cannot create ${file}: ${code}`);
      }
      const holder = lockHolder(this.dir);
      if (holder !== undefined) throw new StateFileError(inUseBy(this.dir, holder));
      fs.unlinkSync(file);  // its owner is gone (kill -9 leaves it behind)
    }
    throw new StateFileError(`state directory ${this.dir}: cannot take ${file}`);
  }

  private removeLeftovers(): void {
    for (const name of fs.readdirSync(this.dir)) {
      if (!/\.tmp-\d+$/.test(name)) continue;
      const pid = Number(name.slice(name.lastIndexOf('-') + 1));
      if (pid !== process.pid && isLive(pid)) continue;
      try { fs.unlinkSync(path.join(this.dir, name)); } catch (e) { if (errCode(e) !== 'EROFS' && errCode(e) !== 'ENOENT') throw e; }
    }
  }

  /** The base and the journal records after it, every part checked for being ours. */
  private read(): LoadedState | undefined {
    let baseText: string | undefined;
    try {
      baseText = fs.readFileSync(this.baseFile, 'utf8');
    } catch (e) {
      if (errCode(e) !== 'ENOENT') throw new StateFileError(`${this.baseFile}: cannot read it: ${errCode(e)}`);
    }
    let seq = 0;
    let dynamic: Record<string, unknown> | undefined;
    if (baseText !== undefined) {
      this.baseBytes = Buffer.byteLength(baseText);
      let doc: unknown;
      try {
        doc = JSON.parse(baseText);
      } catch (e) {
        throw new StateFileError(`${this.baseFile}: not valid JSON (${(e as Error).message}); it is not a state file this director wrote, or it was cut short: move it away to start from the config file`);
      }
      if (doc === null || typeof doc !== 'object' || Array.isArray(doc))
        throw new StateFileError(`${this.baseFile}: not a Fulcrum state file (expected an object with version and dynamic, found ${doc === null ? 'null' : Array.isArray(doc) ? 'an array' : typeof doc})`);
      const d = doc as { version?: unknown; seq?: unknown; dynamic?: unknown };
      if (d.version === undefined) throw new StateFileError(`${this.baseFile}: not a Fulcrum state file (no version)`);
      if (!FORMAT_VERSIONS.includes(d.version as number))
        throw new StateFileError(`${this.baseFile}: version ${JSON.stringify(d.version)} is not one this director reads (${FORMAT_VERSIONS.join(', ')})`);
      if (d.dynamic === null || typeof d.dynamic !== 'object' || Array.isArray(d.dynamic))
        throw new StateFileError(`${this.baseFile}: dynamic: must be an object`);
      const unknown = Object.keys(d.dynamic).filter((k) => !(DYNAMIC_KEYS as readonly string[]).includes(k));
      if (unknown.length) throw new StateFileError(`${this.baseFile}: dynamic: unknown section ${unknown.map((k) => `'${k}'`).join(', ')}`);
      if (d.version === 2 && (!Number.isInteger(d.seq) || (d.seq as number) < 0))
        throw new StateFileError(`${this.baseFile}: seq: must be a non-negative integer`);
      for (const k of ['services', 'matchRules'])
        if ((d.dynamic as Record<string, unknown>)[k] !== undefined && !Array.isArray((d.dynamic as Record<string, unknown>)[k]))
          throw new StateFileError(`${this.baseFile}: dynamic.${k}: must be an array`);
      seq = d.version === 2 ? (d.seq as number) : 0;
      dynamic = d.dynamic as Record<string, unknown>;
    }
    const records = this.readJournal(seq, dynamic !== undefined);
    this.seq = records.length ? records[records.length - 1].seq : seq;
    if (dynamic === undefined && !records.length) return undefined;
    return { seq, dynamic: dynamic ?? {}, records };
  }

  private readJournal(baseSeq: number, haveBase: boolean): JournalRecord[] {
    let buf: Buffer;
    try {
      buf = fs.readFileSync(this.journalFile);
    } catch (e) {
      if (errCode(e) === 'ENOENT') return [];
      throw new StateFileError(`${this.journalFile}: cannot read it: ${errCode(e)}`);
    }
    const out: JournalRecord[] = [];
    let off = 0;
    let line = 0;
    let expect = baseSeq + 1;
    while (off < buf.length) {
      line++;
      const nl = buf.indexOf(10, off);
      const end = nl < 0 ? buf.length : nl;
      let rec: JournalRecord | undefined;
      try {
        const v = JSON.parse(buf.subarray(off, end).toString('utf8')) as unknown;
        if (v && typeof v === 'object' && !Array.isArray(v) && Number.isInteger((v as JournalRecord).seq)) rec = v as JournalRecord;
      } catch (e) {
        if (!(e instanceof SyntaxError)) throw e;
        rec = undefined;  // judged just below: a torn last line or corruption
      }
      if (!rec || nl < 0) {
        // Only the last line can be torn (a crash during its append: never acknowledged).
        if (nl < 0 || nl + 1 >= buf.length) {
          this.cutJournal(off);
          break;
        }
        throw new StateFileError(`${this.journalFile}: line ${line} is not a journal record; the file is damaged (move the state directory away to start from the config file)`);
      }
      const bad = (rec.put !== undefined && !Array.isArray(rec.put)) || (rec.del !== undefined && !(Array.isArray(rec.del) && rec.del.every((x) => typeof x === 'string'))) ||
        (rec.matchRules !== undefined && !Array.isArray(rec.matchRules)) || (rec.tunnelSource !== undefined && rec.tunnelSource !== null && typeof rec.tunnelSource !== 'string') ||
        (rec.tunnelSource6 !== undefined && rec.tunnelSource6 !== null && typeof rec.tunnelSource6 !== 'string');
      if (bad) throw new StateFileError(`${this.journalFile}: line ${line}: not a journal record this director wrote (put, del, matchRules, tunnelSource or tunnelSource6 of the wrong type)`);
      if (rec.seq > baseSeq) {
        if (!haveBase && out.length === 0 && rec.seq !== 1)
          throw new StateFileError(`${this.journalFile}: starts at change ${rec.seq} but ${this.baseFile} is missing`);
        if (rec.seq !== expect)
          throw new StateFileError(`${this.journalFile}: line ${line}: change ${rec.seq} where ${expect} was expected; the file is damaged`);
        out.push(rec);
        expect++;
      }
      off = end + 1;
    }
    this.journalBytes = Math.min(off, buf.length);
    return out;
  }

  /** Drops a torn tail: it was being written when the director died, so nobody was told. */
  private cutJournal(at: number): void {
    try { fs.truncateSync(this.journalFile, at); } catch (e) { if (errCode(e) !== 'EROFS') throw new StateFileError(`${this.journalFile}: cannot cut its torn last line: ${errCode(e)}`); }
  }

  /** The first base of an empty directory (seq 0). */
  writeInitial(dynamic: Record<string, unknown>): void {
    this.seq = 0;
    this.writeBase(dynamic);
  }

  /** The whole dynamic part as the base as of the last change (synchronous: start-up only). */
  private writeBase(dynamic: Record<string, unknown>): void {
    const text = JSON.stringify({ version: WRITTEN_VERSION, seq: this.seq, savedAt: new Date().toISOString(), dynamic }) + '\n';
    writeFileAtomic(this.baseFile, text);
    this.baseBytes = Buffer.byteLength(text);
  }

  /**
   * Folds the journal into a new base at start-up (the whole state as of the last change), so
   * a director starts from one file and an empty journal. Best effort: on a full or read-only
   * directory the files stay as they are, which is just as readable.
   */
  rebase(dynamic: Record<string, unknown>): boolean {
    if (this.journalBytes === 0) return true;
    try {
      this.writeBase(dynamic);
      fs.truncateSync(this.journalFile, 0);
      this.journalBytes = 0;
      return true;
    } catch (e) {
      if (!(e instanceof PersistError) && !isErrno(e)) throw e;
      return false;  // the base and journal on disk are still a consistent pair
    }
  }

  /** Appends one change and makes it durable; on failure nothing of it stays in the file.
   * `body` is the record's JSON without its seq (`"put":[...]`...), built by the caller: a
   * large one in slices, as pieces of UTF-8 (one string of a restore's 5 MB, and its bytes,
   * each took the event loop for tens of ms). A small record is written at once and synced
   * off the event loop; a large one is written asynchronously too, piece by piece, so the
   * event loop keeps serving meanwhile. Appends are one at a time, in the order called. */
  async append(body: string | readonly Buffer[]): Promise<number> {
    while (this.appending) await this.appending.catch(() => undefined);
    const seq = this.seq + 1;
    const pieces = typeof body === 'string'
      ? [Buffer.from(`{"seq":${seq}${body ? ',' + body : ''}}\n`)]
      : [Buffer.from(`{"seq":${seq}${body.length ? ',' : ''}`), ...body, Buffer.from('}\n')];
    let length = 0;
    for (const b of pieces) length += b.length;
    const p = length < LARGE_RECORD ? this.appendSmall(pieces.length === 1 ? pieces[0] : Buffer.concat(pieces, length)) : this.appendAsync(pieces);
    this.appending = p;
    try { await p; } finally { this.appending = undefined; }
    this.journalBytes += length;
    this.lastLength = length;
    this.seq = seq;
    return seq;
  }

  /** Takes back the last append (`seq`, durable but not acknowledged: the dataplane refused its
   * change). It is forgotten at once, so the next append is cut back to before it even if the
   * truncation here fails; only a crash before either leaves it on disk (the caller logs that). */
  async retract(seq: number): Promise<void> {
    if (seq !== this.seq || this.lastLength === 0) throw new Error(`retract(${seq}): change ${this.seq} is the last one appended`);
    while (this.appending) await this.appending.catch(() => undefined);
    this.journalBytes -= this.lastLength;
    this.lastLength = 0;
    this.seq = seq - 1;
    let fd = -1;
    try {
      fd = fs.openSync(this.journalFile, 'r+');
      fs.ftruncateSync(fd, this.journalBytes);
      const at = fd;
      await new Promise<void>((resolve, reject) => fs.fdatasync(at, (e) => (e ? reject(e) : resolve())));
    } catch (e) {
      throw persistError(this.journalFile, e);
    } finally {
      if (fd >= 0) fs.closeSync(fd);
    }
  }

  /** A small record: written at once (into the page cache, microseconds), then made durable
   * off the event loop: fdatasync takes 0.5 ms typically and 5-30 ms at times, which held
   * every request, health check and metrics scrape when it ran on this thread. */
  private async appendSmall(line: Buffer): Promise<void> {
    // Opened per change, not held: a held writable descriptor would keep an operator from
    // remounting the state directory read-only, and costs more to reason about than it saves.
    let fd = -1;
    try {
      fd = fs.openSync(this.journalFile, 'a', 0o600);
      // A failed earlier append may have left bytes behind: cut them before writing more.
      if (fs.fstatSync(fd).size !== this.journalBytes) fs.ftruncateSync(fd, this.journalBytes);
      let done = 0;
      while (done < line.length) done += fs.writeSync(fd, line, done, line.length - done);
      const at = fd;
      await new Promise<void>((resolve, reject) => fs.fdatasync(at, (e) => (e ? reject(e) : resolve())));
    } catch (e) {
      if (fd >= 0) {
        try { fs.ftruncateSync(fd, this.journalBytes); } catch (t) { if (!isErrno(t)) throw t; /* retried before the next append */ }
      }
      throw persistError(this.journalFile, e);
    } finally {
      if (fd >= 0) fs.closeSync(fd);
    }
  }

  private async appendAsync(pieces: readonly Buffer[]): Promise<void> {
    let fh: fs.promises.FileHandle | undefined;
    try {
      fh = await fs.promises.open(this.journalFile, 'a', 0o600);
      if ((await fh.stat()).size !== this.journalBytes) await fh.truncate(this.journalBytes);
      for (const b of pieces) {
        let done = 0;
        while (done < b.length) done += (await fh.write(b, done, b.length - done)).bytesWritten;
      }
      await fh.datasync();
    } catch (e) {
      if (fh) {
        try { await fh.truncate(this.journalBytes); } catch (t) { if (!isErrno(t)) throw t; /* retried before the next append */ }
      }
      throw persistError(this.journalFile, e);
    } finally {
      await fh?.close();
    }
  }

  /** True when the journal has grown enough that a new base is worth writing. */
  wantsCompaction(): boolean {
    return !this.compacting && this.journalBytes > Math.max(this.compactMinBytes, this.baseBytes / 10);
  }

  /**
   * Writes a new base for the state as of change `seq` (what `chunks` yields: the JSON text of
   * the dynamic part in slices, produced lazily so the event loop breathes between them), then
   * drops the journal lines it covers. Changes may be appended meanwhile; the journal swap
   * itself is synchronous, so no append can fall between reading its tail and replacing it.
   */
  async compact(seq: number, journalBytesAtSeq: number, chunks: AsyncIterable<Buffer>): Promise<void> {
    if (this.compacting) return;
    this.compacting = true;
    const tmp = `${this.baseFile}.tmp-${process.pid}`;
    try {
      const fh = await fs.promises.open(tmp, 'w', 0o600);
      let bytes = 0;
      try {
        const head = `{"version":${WRITTEN_VERSION},"seq":${seq},"savedAt":"${new Date().toISOString()}","dynamic":`;
        await fh.write(head);
        bytes += head.length;
        for await (const c of chunks) {
          await fh.write(c);
          bytes += c.length;
        }
        await fh.write('}\n');
        await fh.sync();
      } finally {
        await fh.close();
      }
      fs.renameSync(tmp, this.baseFile);
      fsyncDir(this.dir);
      this.baseBytes = bytes;
      // No append may be half-way through the journal while it is replaced (a large one is
      // written asynchronously); from here to the rename nothing awaits.
      while (this.appending) await this.appending.catch(() => undefined);
      // Keep only what came after `seq` (read alone: the whole journal, a restore's 5 MB
      // record in it, took the event loop for over 100 ms).
      const buf = readRange(this.journalFile, journalBytesAtSeq, this.journalBytes - journalBytesAtSeq);
      writeFileAtomic(this.journalFile, buf);
      this.journalBytes = buf.length;
    } catch (e) {
      try { fs.unlinkSync(tmp); } catch (u) { if (!isErrno(u)) throw u; /* not created, or the directory is unusable: next time */ }
      throw persistError(this.baseFile, e);
    } finally {
      this.compacting = false;
    }
  }

  /** Bytes of acknowledged journal (a compaction started now covers up to here). */
  get journalSize(): number { return this.journalBytes; }

  close(): void {
    if (this.lockHeld) {
      try { fs.unlinkSync(path.join(this.dir, LOCK)); } catch (u) { if (!isErrno(u)) throw u; /* gone already, or the directory became read-only */ }
      this.lockHeld = false;
      HELD.delete(path.resolve(this.dir));
    }
  }
}
