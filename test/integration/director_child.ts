// Runs inside the director's namespace for the integration tests: starts the real dataplane
// (the addon, through the Director) with the config file given, then answers JSON-line
// requests on stdin (apply, applyDelta, stats, services, connections, ports, neighbours, flush,
// the sync daemons, stop).
// It is a remote control for the real thing, not a stand-in: the REST API replaces it later.
import readline from 'node:readline';
import { nativeAddon, type NativeDelta, type SyncDaemonOptions, type SyncTunables } from '../../src/native';
import { loadConfigFile, validateConfig } from '../../src/control/config_load';
import { Director } from '../../src/control/director';
import { checkTcp } from '../../src/control/health/tcp_checker';
import { EgressGuard } from '../../src/control/health/egress';

const director = new Director(nativeAddon(), loadConfigFile(process.argv[2]));
const send = (o: unknown) => process.stdout.write(JSON.stringify(o) + '\n');
send({ ready: true, startInfo: director.startInfo, ports: nativeAddon().ports() });

const rl = readline.createInterface({ input: process.stdin });
rl.on('line', async (line) => {
  const req = JSON.parse(line) as { id: number; op: string; arg?: unknown };
  try {
    let result: unknown;
    switch (req.op) {
      case 'apply': await director.applyConfig(validateConfig(req.arg)); break;
      case 'applyDelta': await nativeAddon().applyDelta(req.arg as NativeDelta); break;
      case 'floodThenApplyDelta': {
        // Sends stats requests until the workers' command rings are full, then asks for the
        // delta in the same tick: what an apply meets when a worker is behind. A worker may
        // free a slot in between; the caller retries then.
        const pending: Promise<unknown>[] = [];
        let full = false;
        for (let i = 0; i < 5000 && !full; i++) {
          try { pending.push(nativeAddon().stats()); } catch { full = true; }
        }
        let delta = 'applied';
        try { await nativeAddon().applyDelta(req.arg as NativeDelta); } catch (e) { delta = (e as Error).message; }
        await Promise.allSettled(pending);
        result = { full, delta };
        break;
      }
      case 'applyDuringBuild': {
        // A large delta (built on a pool thread) and, in the same tick, another change.
        const { big, small } = req.arg as { big: NativeDelta; small: NativeDelta };
        const first = nativeAddon().applyDelta(big);
        let second = 'applied';
        try { await nativeAddon().applyDelta(small); } catch (e) { second = (e as Error).message; }
        await first;
        result = { second };
        break;
      }
      case 'stopDuringBuild': {
        // stop() while a large delta is being built: it waits for the build to stop reading.
        const first = nativeAddon().applyDelta(req.arg as NativeDelta);
        nativeAddon().stop();
        let outcome = 'applied';
        try { await first; } catch (e) { outcome = (e as Error).message; }
        result = { outcome, running: nativeAddon().running() };
        break;
      }
      case 'stats': result = await director.stats(); break;
      case 'services': result = await director.services(); break;
      case 'connections': result = await director.connections((req.arg ?? {}) as object); break;
      case 'ports': result = nativeAddon().ports(); break;
      case 'neighbours': result = await nativeAddon().neighbours(); break;
      case 'setVipOwner': await nativeAddon().setVipOwner(req.arg as boolean); break;
      case 'checkTcp': {
        // The health monitor's TCP_CHECK and its egress rule, from the director's namespace.
        const { address, port, taps } = req.arg as { address: string; port: number; taps: string[] };
        const refusal = new EgressGuard(new Set(taps)).refusal(address);
        result = { refusal, check: refusal ? undefined : await checkTcp({ type: 'tcp', timeout: 3 } as never, { address, port }) };
        break;
      }
      case 'flush': await nativeAddon().flush(req.arg as number | undefined); break;
      case 'syncStart':
        try { nativeAddon().syncStart(req.arg as SyncDaemonOptions); } catch (e) {
          throw new Error(`${(e as Error).message}${(e as { code?: string }).code ? ` [${(e as { code?: string }).code}]` : ''}`);
        }
        break;
      case 'syncStop': result = nativeAddon().syncStop(req.arg as 'master' | 'backup'); break;
      case 'syncDaemons': result = nativeAddon().syncDaemons(); break;
      case 'syncTunables': nativeAddon().syncTunables(req.arg as SyncTunables); break;
      case 'stop': director.stop(); send({ id: req.id, ok: true }); process.exit(0);
      // eslint-disable-next-line no-fallthrough
      default: throw new Error(`unknown op ${req.op}`);
    }
    send({ id: req.id, ok: true, result });
  } catch (e) {
    send({ id: req.id, ok: false, error: (e as Error).message });
  }
});
rl.on('close', () => { director.stop(); process.exit(0); });
