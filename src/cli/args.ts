// Small helpers for the flags of `fulcrum`'s subcommands and tools (fvsadm has ipvsadm's
// own parser, src/ipvsadm/args.ts).

export class UsageError extends Error {}

/** Reads `--name value` as a positive integer, or the default; throws a usage error message. */
export function intFlag(args: string[], name: string, dflt: number): number {
  const i = args.indexOf(name);
  if (i < 0) return dflt;
  const v = args[i + 1];
  if (v === undefined || !/^[0-9]+$/.test(v) || Number(v) <= 0) {
    throw new UsageError(`${name} needs a positive integer, got '${v ?? ''}'`);
  }
  return Number(v);
}

/** Reads `--name value`, or undefined when the flag is absent; a flag without its value is a
 * usage error. */
export function stringFlag(args: string[], name: string): string | undefined {
  const i = args.indexOf(name);
  if (i < 0) return undefined;
  const v = args[i + 1];
  if (v === undefined || v.startsWith('--')) throw new UsageError(`${name} needs a value`);
  return v;
}

/** Where `fulcrum serve` and `fulcrum check` read their config without --config: the file the
 * Debian package installs. */
export const DEFAULT_CONFIG_FILE = '/etc/fulcrum/fulcrum.yaml';
