// The operator's drain (`fulcrum drain`, PUT /v1/ha/drain), kept in the state directory
// (drain.json): a director drained for maintenance stays out across a restart until the
// operator puts it back, rather than taking the VIPs back (preempting) the moment it is up
// again. The file is written before the drain is acknowledged; a file that is not ours stops
// the start, naming it, as the other state files do.
import fs from 'node:fs';
import path from 'node:path';
import { StateFileError, writeFileAtomic } from '../control/state_store';

const FILE = 'drain.json';

/** Whether the director was left drained; false when it never was. */
export function readDrain(stateDir: string): boolean {
  const file = path.join(stateDir, FILE);
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw new StateFileError(`${file}: cannot read: ${(e as NodeJS.ErrnoException).code}`);
  }
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (e) {
    throw new StateFileError(`${file}: not JSON (${(e as Error).message}); it is not a drain state this director wrote`);
  }
  const d = doc as { version?: unknown; drained?: unknown } | null;
  if (d === null || typeof d !== 'object' || d.version !== 1 || typeof d.drained !== 'boolean' || Object.keys(d).length !== 2)
    throw new StateFileError(`${file}: not a drain state this director wrote (expected {"version":1,"drained":true|false})`);
  return d.drained;
}

/** Makes the drain durable; throws PersistError (nothing written) when the directory cannot take it. */
export function writeDrain(stateDir: string, drained: boolean): void {
  writeFileAtomic(path.join(stateDir, FILE), JSON.stringify({ version: 1, drained }) + '\n');
}
