// Small helpers for the fulcrum subcommands' own flags (fvsadm has its own ipvsadm parser).

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

export class UsageError extends Error {}
