// fvsadm against the real ipvsadm 1.31 on Linux 6.1's IPVS, for what the shared oracle cannot
// show (it speaks only the IPv4 socket options): IPv6 services and real servers beside IPv4
// ones, fwmark IPv6, -M as a prefix, every listing, -S/-C/-R, IPv6 connections, the sort. Each
// transcript in test/golden/ipvsadm-kernel/ (scripts/capture-ipvsadm-kernel-golden, in the
// lvs-kernel-vm) is replayed step by step against one fake director that starts empty, as the VM's table did:
// each step must print what ipvsadm printed, on the same stream, with the same exit status.
// Differences that are the kernel's own are allowed: --nosort lists services in the kernel's
// hash order (Fulcrum's is the order they were made), so its service blocks are compared as a
// set; so are the sorted listings of ipv6-sort, whose addresses are far enough apart that
// libipvs's comparator is not transitive: glibc's merge sort then answers by the order it was
// given, the kernel's hash order, which is salted by the network namespace's address and cannot
// be reproduced (each service's real servers come in a fixed order, newest first, and must
// match exactly); and a change the director refuses with a reason (400: EINVAL) carries that
// reason on a second `fvsadm:` line after the kernel's message.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { runFvsadm } from '../../src/ipvsadm/run';
import { parseServicesFile } from '../../src/ipvsadm/addr';
import { FakeDirector, apiConnectionsOf } from './fake_director_api';

const golden = path.resolve(__dirname, '../../../test/golden');
const services = parseServicesFile(fs.readFileSync(path.join(golden, 'ipvsadm/services'), 'utf8'));

interface Step { argv: string[]; stdin?: string; stdout: string; stderr: string; exit: number; conns?: string }
interface Transcript { name: string; about: string; capturedWith: string; hosts: string; steps: Step[] }

/** gethostbyname (IPv4 only, as ipvsadm asks) and gethostbyaddr over the VM's hosts file. */
function hostsResolver(text: string) {
  const lines = text.split('\n').map((l) => l.trim().split(/\s+/)).filter((w) => w.length >= 2);
  return {
    lookupHost: async (name: string) => lines.find(([a, ...names]) => !a.includes(':') && names.includes(name))?.[0],
    reverseHost: async (address: string) => lines.find(([a]) => a === address)?.[1],
  };
}

/** A listing's service blocks (a service line, or -S's -A line, and its real servers), sorted;
 * the header lines first, as they are. */
function blocks(text: string): string[] {
  const lines = text.replace(/\n$/, '').split('\n');
  const head = lines.findIndex((l) => /^(-A |TCP |UDP |SCTP|FWM )/.test(l));
  const out: string[] = [];
  for (const l of lines.slice(head)) {
    if (/^(-A |TCP |UDP |SCTP|FWM )/.test(l)) out.push(l);
    else out[out.length - 1] += '\n' + l;
  }
  return [...lines.slice(0, head), ...out.sort()];
}

const transcripts: Transcript[] = fs.readdirSync(path.join(golden, 'ipvsadm-kernel')).filter((f) => f.endsWith('.json')).sort()
  .map((f) => JSON.parse(fs.readFileSync(path.join(golden, 'ipvsadm-kernel', f), 'utf8')));

test('the kernel transcripts are there', () => {
  assert.deepEqual(transcripts.map((t) => t.name).sort(), ['ipv6', 'ipv6-sort']);
});

for (const transcript of transcripts) test(`${transcript.name}: ${transcript.about}`, async () => {
  const names = hostsResolver(transcript.hosts);
  const director = new FakeDirector({ services: [], timeouts: { tcp: 900, tcpfin: 120, udp: 300 }, daemons: [] });
  const failures: string[] = [];
  for (const [i, step] of transcript.steps.entries()) {
    if (step.conns !== undefined) director.connections.splice(0, Infinity, ...apiConnectionsOf(step.conns));
    let stdout = '', stderr = '';
    const exit = await runFvsadm(step.argv, {
      program: 'ipvsadm', api: director, readStdin: async () => step.stdin ?? '', services, ...names,
      out: (s) => { stdout += s; }, err: (s) => { stderr += s; },
    });
    const label = `step ${i + 1}: ipvsadm ${step.argv.join(' ')}`;
    const asSet = step.argv.includes('--nosort') || (transcript.name === 'ipv6-sort' && ['-Ln', '-Ln --stats', '-S -n'].includes(step.argv.join(' ')));
    if (asSet) {
      stdout = JSON.stringify(blocks(stdout));
      step.stdout = JSON.stringify(blocks(step.stdout));
    }
    if (step.stderr.startsWith('Invalid operation.') && stderr.startsWith(step.stderr) && /^fvsadm: the director answered 400: .+\n$/.test(stderr.slice(step.stderr.length)))
      stderr = step.stderr;
    for (const [what, want, got] of [['stdout', step.stdout, stdout], ['stderr', step.stderr, stderr], ['exit', step.exit, exit]] as const)
      if (want !== got) failures.push(`${label}: ${what}\n  want ${JSON.stringify(want)}\n  got  ${JSON.stringify(got)}`);
  }
  assert.equal(failures.length, 0, `${failures.length} of ${transcript.steps.length} steps differ from ipvsadm on the kernel:\n${failures.join('\n')}`);
});
