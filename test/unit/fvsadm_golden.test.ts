// fvsadm against the real ipvsadm 1.31, byte for byte: every step of every fixture in
// test/golden/ipvsadm/ (captured by scripts/capture-ipvsadm-golden) runs through fvsadm with a
// fake director holding the same kernel table the oracle had, the same hosts file and the same
// /etc/services, and must print what ipvsadm printed, on the same stream, with the same exit
// status. After each step the fake's table must equal the oracle's next one, so the requests
// fvsadm made had ipvsadm's effect. Steps with a forced kernel errno check libipvs's message
// table instead (the API has no errno to force).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { runFvsadm } from '../../src/ipvsadm/run';
import { ipvsStrerror, operationOf } from '../../src/ipvsadm/kernel_errors';
import { parseArgs } from '../../src/ipvsadm/args';
import { parseServicesFile } from '../../src/ipvsadm/addr';
import { FakeDirector, comparable, type OracleState } from './fake_director_api';
import { fwmarkPortsNumeric } from './oracle_vs_kernel';

const dir = path.resolve(__dirname, '../../../test/golden/ipvsadm');
const services = parseServicesFile(fs.readFileSync(path.join(dir, 'services'), 'utf8'));

interface Step { argv: string[]; stdin?: string; errno?: number; state?: OracleState; statsSet?: boolean; stdout: string; stderr: string; exit: number }
interface Fixture { name: string; about: string; hosts?: string; conns?: string; steps: Step[]; finalState: OracleState }

/** gethostbyname and gethostbyaddr over a hosts file, as glibc's "files" source answers. */
function hostsResolver(text: string) {
  const lines = text.split('\n').map((l) => l.replace(/#.*/, '').trim().split(/\s+/)).filter((w) => w.length >= 2);
  return {
    lookupHost: async (name: string) => lines.find(([, ...names]) => names.some((n) => n.toLowerCase() === name.toLowerCase()))?.[0],
    reverseHost: async (address: string) => lines.find(([a]) => a === address)?.[1],
  };
}

const fixtures: Fixture[] = fs.readdirSync(dir).filter((f) => f.endsWith('.json')).sort()
  .map((f) => JSON.parse(fs.readFileSync(path.join(dir, f), 'utf8')));

test('the fixtures are there and cover every command', () => {
  assert.ok(fixtures.length >= 15, `only ${fixtures.length} fixtures in ${dir}`);
  const firsts = new Set(fixtures.flatMap((f) => f.steps.map((s) => s.argv[0]?.replace(/^(-[A-Za-z]).*/, '$1'))));
  for (const c of ['-A', '-E', '-D', '-C', '-R', '-S', '-a', '-e', '-d', '-L', '-l', '-Z', '--set', '--start-daemon', '--stop-daemon', '-h', '-v'])
    assert.ok(firsts.has(c), `no fixture runs ${c}`);
});

for (const fx of fixtures) {
  test(`${fx.name}: ${fx.about}`, async () => {
    const names = hostsResolver(fx.hosts ?? '127.0.0.1 localhost\n');
    const failures: string[] = [];
    let state = fx.steps[0].state!;
    for (const [i, step] of fx.steps.entries()) {
      state = step.state ?? state;
      const label = `step ${i + 1}: ipvsadm ${step.argv.join(' ')}${step.stdin !== undefined ? ` <<< ${JSON.stringify(step.stdin)}` : ''}`;
      if (step.errno) {
        const p = await parseArgs(step.argv, { program: 'ipvsadm', services, lookupHost: names.lookupHost });
        assert.ok(p.ok, label);
        const got = ipvsStrerror(operationOf(p.command), step.errno) + '\n';
        if (got !== step.stderr || step.exit !== 255) failures.push(`${label} (errno ${step.errno})\n  want ${JSON.stringify(step.stderr)}\n  got  ${JSON.stringify(got)}`);
        continue;
      }
      const director = new FakeDirector(state, fx.conns);
      let stdout = '', stderr = '';
      const exit = await runFvsadm(step.argv, {
        program: 'ipvsadm', api: director, readStdin: async () => step.stdin ?? '', services, ...names,
        out: (s) => { stdout += s; }, err: (s) => { stderr += s; },
      });
      for (const [what, want, got] of [['stdout', fwmarkPortsNumeric(step.stdout, services), stdout], ['stderr', step.stderr, stderr], ['exit', step.exit, exit]] as const)
        if (want !== got) failures.push(`${label}: ${what}\n  want ${JSON.stringify(want)}\n  got  ${JSON.stringify(got)}\n  requests: ${director.log.join(', ')}`);
      // The table afterwards: the next step's (stats too, unless counters were set in between).
      const next = fx.steps[i + 1]?.state ?? (i + 1 < fx.steps.length ? state : fx.finalState);
      const withStats = !fx.steps[i + 1]?.statsSet;
      const want = comparable(new FakeDirector(next).services, withStats);
      const got = comparable(director.services, withStats);
      const differ = [...new Set([...Object.keys(want), ...Object.keys(got)])].filter((k) => JSON.stringify(want[k]) !== JSON.stringify(got[k]));
      if (differ.length) failures.push(`${label}: the table afterwards\n` +
        differ.map((k) => `  ${k}: want ${JSON.stringify(want[k] ?? null)}\n  ${k}: got  ${JSON.stringify(got[k] ?? null)}`).join('\n'));
      if (JSON.stringify(director.timeouts) !== JSON.stringify(next.timeouts)) failures.push(`${label}: timeouts afterwards ${JSON.stringify(director.timeouts)}, want ${JSON.stringify(next.timeouts)}`);
    }
    assert.equal(failures.length, 0, `${failures.length} of ${fx.steps.length} steps differ from ipvsadm:\n${failures.join('\n')}`);
  });
}
