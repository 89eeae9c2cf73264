// fvsadm against the real ipvsadm 1.31 on Linux 6.1's IPVS, for what the shared oracle cannot
// show (it speaks only the IPv4 socket options): IPv6 services and real servers beside IPv4
// ones, fwmark IPv6, -M as a prefix, every listing, -S/-C/-R, IPv6 connections. The transcript
// in test/golden/ipvsadm-kernel/ (scripts/capture-ipvsadm-kernel-golden, in the lvs-kernel-vm)
// is replayed step by step against one fake director that starts empty, as the VM's table did:
// each step must print what ipvsadm printed, on the same stream, with the same exit status.
// Two differences are the kernel's own and are allowed: --nosort lists services in the kernel's
// hash order (Fulcrum's is the order they were made), so its service blocks are compared as a
// set; and a change the director refuses with a reason (400: EINVAL) carries that reason on a
// second `fvsadm:` line after the kernel's message.
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

/** A listing's service blocks (a service line and its real servers), sorted. */
function blocks(text: string): string[] {
  const [head, ...rest] = text.replace(/\n$/, '').split(/\n(?=\S)/);
  return [head.split('\n').slice(0, 3).join('\n'), ...[head.split('\n').slice(3).join('\n'), ...rest].filter(Boolean).sort()];
}

const transcript: Transcript = JSON.parse(fs.readFileSync(path.join(golden, 'ipvsadm-kernel/ipv6.json'), 'utf8'));

test(`${transcript.name}: ${transcript.about}`, async () => {
  assert.ok(transcript.steps.length > 60, 'the transcript is there');
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
    if (step.argv.includes('--nosort')) {
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
