// `fvsadm -R` answered on the director (POST /v1/restore): the input's bytes come as they are,
// and the director does what fvsadm -R would do with them, with the same code: every line
// parsed by the ipvsadm parser (a bad line changes nothing and is answered with ipvsadm's
// message and exit status), the writes planned as fvsadm plans them (planBatch) and applied
// as one change through the batch's ops (applyOp), each line answered as ipvsadm answers it.
// A large site's save (110,000 lines) then costs the client its start and one send, not a
// parse, a plan and 110,000 JSON ops. Input that needs the client's own lookups (a host or a
// port name: its resolver and /etc/services, not the director's) or the table between lines
// (a listing, -Z) is answered with `fallback`, and fvsadm runs the restore itself.
import type { Daemon } from '../control/daemon';
import { breathe } from '../control/slices';
import { NeedsLookup, parseArgsNow, type KnownHosts, type ParseEnv, type ParseFailure, type ParseResult } from '../ipvsadm/args';
import { restoreLineIter } from '../ipvsadm/restore';
import { planLine, printedText, type Outcome } from '../ipvsadm/run';
import { NamesNeeded, noHostLookup, noServices } from './client_names';
import { ApiError } from './errors';
import { applyOp } from './routes/batch';

export type RestoreAnswer =
  | { fallback: 'names' | 'line-by-line' }
  /** Only the lines that printed something, in order (line = input line number); exit is
   * ipvsadm's: the last line's status. -h or -v on a line ended the input there (`end`). */
  | { exit: number; outputs: Array<{ line: number; stdout?: string; stderr?: string }>; end?: 'help' | 'version' };

/** Handed back to the client; the draft is dropped. */
class Fallback extends Error {
  constructor(readonly why: 'names' | 'line-by-line') { super(why); }
}
/** A line that does not parse: nothing is applied. */
class LineRefused extends Error {
  constructor(readonly line: number, readonly failure: ParseFailure) { super(failure.stderr); }
}

/**
 * Each line is parsed, planned and applied to the change's draft in turn, so nothing of the
 * 110,000 lines outlives its turn but the services it makes (what is kept costs the garbage
 * collector most). A line that does not parse, or that the client must run, drops the draft:
 * the input is still all or nothing, as when every line was parsed first.
 */
export async function restoreText(daemon: Daemon, text: string | readonly string[], program: string): Promise<RestoreAnswer> {
  const env: ParseEnv = { program, lookupHost: noHostLookup, services: noServices, readingStdin: true };
  const known: KnownHosts = new Map();
  const ctx = { localAddresses: daemon.state.staticCfg.localAddresses };
  try {
    return await daemon.change(async (d) => {
      const outputs: Array<{ line: number; stdout?: string; stderr?: string }> = [];
      let exit = 0;
      let end: 'help' | 'version' | undefined;
      const slice = { start: performance.now() };
      for (const { line, words } of restoreLineIter(text)) {
        await breathe(slice);
        let p: ParseResult | NeedsLookup;
        try {
          p = parseArgsNow(words, env, known);
        } catch (e) {
          if (e instanceof NamesNeeded) throw new Fallback('names');
          throw e;
        }
        if (p instanceof NeedsLookup) throw new Fallback('names');
        if (!p.ok) throw new LineRefused(line, p.error);
        if (p.command.cmd === 'help' || p.command.cmd === 'version') { end = p.command.cmd; break; }
        const l = planLine(p.command);
        if (!l) throw new Fallback('line-by-line');
        let o: Outcome;
        if ('local' in l) o = l.local;
        else {
          const r = applyOp(d, l.op, ctx);
          o = l.outcome({ status: r.status, body: r });
        }
        const stdout = printedText(o.stdout);
        if (stdout || o.stderr) outputs.push({ line, ...(stdout ? { stdout } : {}), ...(o.stderr ? { stderr: o.stderr } : {}) });
        exit = o.exit;
      }
      return { exit, outputs, ...(end ? { end } : {}) };
    });
  } catch (e) {
    if (e instanceof Fallback) return { fallback: e.why };
    if (e instanceof LineRefused) {
      const { stderr, exit } = e.failure;
      const why = `line ${e.line}: ${stderr.trim().split('\n').join('; ')}`;
      throw new ApiError(400, why, [why], { line: e.line, stderr, exit });
    }
    throw e;
  }
}
