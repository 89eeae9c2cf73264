// `fvsadm`: ipvsadm 1.31's command line and output, run against a Fulcrum director's REST API.
// The language and its run against the API are src/ipvsadm's, the HTTP client src/client's;
// this file wires the process to them: argv[0], stdin for -R, the system resolver for names,
// /etc/services. Nothing is loaded or read before it is needed (bin/fvsadm.js runs a bundle
// of this file): the resolver only when a name is looked up, /etc/services only when a port
// name is.
import { systemServices } from '../ipvsadm/addr';
import { runFvsadm, type FvsadmEnv } from '../ipvsadm/run';
import { directorFromEnv } from '../client/http';

type Dns = typeof import('node:dns');
const dns = () => require('node:dns') as Dns;

/** gethostbyname for IPv4 through the system resolver. */
async function lookupHost(name: string): Promise<string | undefined> {
  try { return (await dns().promises.lookup(name, { family: 4 })).address; } catch { return undefined; }
}

/** gethostbyaddr's answer through the system resolver (hosts file, then DNS), as ipvsadm gets it. */
async function reverseHost(address: string): Promise<string | undefined> {
  try { return (await dns().promises.lookupService(address, 0)).hostname; } catch { return undefined; }
}

async function readAll(stream: NodeJS.ReadableStream): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of stream) chunks.push(typeof c === 'string' ? Buffer.from(c) : c);
  return Buffer.concat(chunks).toString('utf8');
}

export async function main(argv: string[]): Promise<number> {
  const arg0 = process.argv[1] ?? 'fvsadm';
  const env: FvsadmEnv = {
    program: arg0.slice(arg0.lastIndexOf('/') + 1).replace(/\.js$/, ''),
    api: directorFromEnv(),
    readStdin: () => readAll(process.stdin),
    lookupHost,
    reverseHost,
    services: systemServices(),
    out: (s) => { if (s) process.stdout.write(s); },
    err: (s) => { if (s) process.stderr.write(s); },
  };
  return runFvsadm(argv, env);
}
