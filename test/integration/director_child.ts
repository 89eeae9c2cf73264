// Runs inside the director's namespace for the integration tests: starts the real dataplane
// (the addon, through the Director) with the config file given, then answers JSON-line
// requests on stdin (apply, applyDelta, stats, services, connections, ports, neighbours, flush,
// stop).
// It is a remote control for the real thing, not a stand-in: the REST API replaces it later.
import readline from 'node:readline';
import { nativeAddon, type NativeDelta } from '../../src/native';
import { loadConfigFile, validateConfig } from '../../src/control/config_load';
import { Director } from '../../src/control/director';

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
      case 'stats': result = await director.stats(); break;
      case 'services': result = await director.services(); break;
      case 'connections': result = await director.connections((req.arg ?? {}) as object); break;
      case 'ports': result = nativeAddon().ports(); break;
      case 'neighbours': result = await nativeAddon().neighbours(); break;
      case 'flush': await nativeAddon().flush(req.arg as number | undefined); break;
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
