// Which build of Fulcrum this is, for `fulcrum --version` and GET /v1/version: the version
// from package.json, and the git commit and DPDK version that scripts/build-info recorded in
// dist/build-info.json when the TypeScript was built. Reading two small files is all it does:
// no root, no dataplane. A fact that cannot be read is "unknown", never an error.
import fs from 'node:fs';
import path from 'node:path';

export interface BuildInfo {
  version: string;
  /** The full commit hash, or "unknown". */
  commit: string;
  /** The DPDK version the dataplane is compiled against, or "unknown". */
  dpdk: string;
}

/** The checkout (or installed tree) holding package.json and dist/: this file is dist/src/build_info.js. */
const ROOT = path.resolve(__dirname, '../..');

/** A string field of a JSON file, or "unknown" when the file, its JSON or the field is missing. */
function field(file: string, name: string): string {
  try {
    const v = (JSON.parse(fs.readFileSync(file, 'utf8')) as Record<string, unknown>)[name];
    return typeof v === 'string' && v.trim() ? v.trim() : 'unknown';
  } catch {
    return 'unknown';
  }
}

export function readBuildInfo(root = ROOT): BuildInfo {
  const recorded = path.join(root, 'dist/build-info.json');
  return { version: field(path.join(root, 'package.json'), 'version'), commit: field(recorded, 'commit'), dpdk: field(recorded, 'dpdk') };
}

/** `fulcrum 0.1.0 (git 1a2b3c4d5e6f, DPDK 22.11.11)`: a commit hash cut to 12 characters. */
export function versionLine(b: BuildInfo): string {
  const commit = /^[0-9a-f]{40,64}$/.test(b.commit) ? b.commit.slice(0, 12) : b.commit;
  return `fulcrum ${b.version} (git ${commit}, DPDK ${b.dpdk})`;
}
