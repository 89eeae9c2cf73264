// The VRRP controller (src/ha/vrrp.ts with keepalived.ts) as specifications, against a stand-in
// for keepalived: a script that reads the config serve wrote, reports MASTER on the notify FIFO
// while the track file says the director is fit and FAULT while it does not, and STOP on
// SIGTERM (as keepalived does with weight-0 track files). The dataplane is a fake addon that
// records what it was told. No root, no network.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { PortInfo } from '../../src/native';
import { Vrrp, type VrrpStatus } from '../../src/ha/vrrp';
import { vrrpSettings } from '../../src/ha/vrrp_config';

const FAKE_KEEPALIVED = `#!/bin/bash
# keepalived's part as Fulcrum sees it: -f CONF; notify_fifo and the track file from CONF.
while [ $# -gt 0 ]; do [ "$1" = -f ] && conf=$2; shift; done
fifo=$(sed -n 's/^ *notify_fifo "\\(.*\\)"$/\\1/p' "$conf")
track=$(sed -n 's/^ *file "\\(.*\\)"$/\\1/p' "$conf")
trap 'echo "INSTANCE \\"fulcrum\\" STOP 100" > "$fifo"; exit 0' TERM
echo "INSTANCE \\"fulcrum\\" BACKUP 100" > "$fifo"
last=
while true; do
  v=$(cat "$track" 2>/dev/null)
  if [ "$v" != "$last" ]; then
    if [ "$v" = 0 ]; then echo "INSTANCE \\"fulcrum\\" MASTER 100" > "$fifo"; else echo "INSTANCE \\"fulcrum\\" FAULT 100" > "$fifo"; fi
    last=$v
  fi
  sleep 0.02
done
`;

function fakeAddon() {
  const told: boolean[] = [];
  let linkUp = true;
  return {
    told,
    setLink(up: boolean) { linkUp = up; },
    running: () => true,
    ports: () => [{ name: 'clients', linkUp } as PortInfo],
    setVipOwner: async (owner: boolean) => { told.push(owner); },
  };
}

async function until(what: string, ok: () => boolean, ms = 5000): Promise<void> {
  for (let waited = 0; waited < ms; waited += 20) {
    if (ok()) return;
    await sleep(20);
  }
  assert.fail(`timed out waiting for ${what}`);
}

const logger = () => {
  const lines: string[] = [];
  const put = (o: object, msg: string) => { lines.push(`${msg} ${JSON.stringify(o)}`); };
  return { lines, info: put, warn: put, error: put };
};

test('the dataplane owns the VIPs exactly while keepalived says MASTER; drain and a dead port are FAULT', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fulcrum-vrrp-'));
  const bin = path.join(dir, 'fake-keepalived');
  fs.writeFileSync(bin, FAKE_KEEPALIVED, { mode: 0o755 });
  const settings = vrrpSettings({
    dataplane: { ports: [{ name: 'clients', device: 'net_null0', address: '198.18.0.1/24' }] },
    ha: { vrrp: { port: 'clients', virtualRouterId: 7 } },
  })!;
  const addon = fakeAddon();
  const log = logger();
  const vrrp = new Vrrp({ settings, addon, stateDir: dir, log, keepalivedBinary: bin });
  const seen: VrrpStatus[] = [];
  vrrp.subscribe((s) => seen.push(s));
  try {
    assert.equal(vrrp.status().state, 'INIT');
    assert.equal(vrrp.status().owner, false);
    vrrp.start();
    assert.equal(fs.readFileSync(path.join(dir, 'keepalived', 'health'), 'utf8'), '0\n');
    assert.match(fs.readFileSync(path.join(dir, 'keepalived', 'keepalived.conf'), 'utf8'), /virtual_router_id 7\n/);
    await until('MASTER', () => vrrp.status().state === 'MASTER' && vrrp.status().owner);
    assert.deepEqual(addon.told, [true]);  // BACKUP first changed nothing: it never owned them
    assert.ok(vrrp.status().keepalived.pid! > 0);

    vrrp.setDrained(true);
    assert.equal(fs.readFileSync(path.join(dir, 'keepalived', 'health'), 'utf8'), '1\n');
    assert.deepEqual(vrrp.status().unfit, ['drained by the operator (fulcrum drain)']);
    await until('FAULT', () => vrrp.status().state === 'FAULT' && !vrrp.status().owner);
    vrrp.setDrained(false);
    await until('MASTER again', () => vrrp.status().state === 'MASTER' && vrrp.status().owner);

    addon.setLink(false);
    await until('FAULT on a dead port', () => vrrp.status().state === 'FAULT' && !vrrp.status().owner);
    assert.deepEqual(vrrp.status().unfit, ["port 'clients' has no link"]);
    addon.setLink(true);
    await until('MASTER after the link', () => vrrp.status().state === 'MASTER');
    assert.deepEqual(addon.told, [true, false, true, false, true]);
    assert.deepEqual(seen.map((s) => s.state), ['BACKUP', 'MASTER', 'FAULT', 'MASTER', 'FAULT', 'MASTER']);
    assert.equal(vrrp.status().transitions, 6);
    assert.deepEqual({ from: vrrp.status().lastTransition!.from, to: vrrp.status().lastTransition!.to }, { from: 'FAULT', to: 'MASTER' });
  } finally {
    await vrrp.stop();
  }
  assert.equal(vrrp.status().state, 'STOP');
  assert.equal(vrrp.status().owner, false);
  assert.equal(addon.told.at(-1), false);
  // each transition logged once, by name
  assert.equal(log.lines.filter((l) => l.startsWith('VRRP MASTER')).length, 3);
  fs.rmSync(dir, { recursive: true, force: true });
});
