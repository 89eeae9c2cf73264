// The Debian package as an operator installs it: built by `npm run package`, installed with
// apt into a fresh Debian 12 root (debootstrap, Debian's own Node.js), its shipped config
// passes `fulcrum check`, the systemd unit's own ExecStart line starts a director on the
// shipped net_null ports (in a namespace of its own), and fvsadm talks to it: the native
// /usr/sbin/fvsadm on its own (no node on its PATH), and through the JS fvsadm it hands a host
// name to (/usr/lib/fulcrum/bin/fvsadm.js).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { cannotRun, root, run } from './harness';

const skip = cannotRun() ?? (run('which', ['debootstrap']).status !== 0 ? 'debootstrap is not installed (scripts/setup)' : undefined);
const NS = 'fipk';

/** Mount points under dir, deepest first. */
const mountsUnder = (dir: string) => fs.readFileSync('/proc/mounts', 'utf8').split('\n')
  .map((l) => l.split(' ')[1]).filter((m) => m && (m === dir || m.startsWith(dir + '/'))).sort().reverse();

test('the package installs into a fresh Debian 12 root; its config checks, its unit starts a director, fvsadm answers', { skip, timeout: 900_000 }, async () => {
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'fulcrum-pkg-'));
  const rootfs = path.join(work, 'root');
  const chroot = (args: string[], timeout = 120_000) => run('chroot', [rootfs, ...args], { timeout });
  let serve: ReturnType<typeof spawn> | undefined;
  try {
    const built = run(path.join(root, 'scripts/package'), ['--out', work], { timeout: 300_000 });
    assert.equal(built.status, 0, built.stderr);
    const deb = built.stdout.trim().split('\n').pop()!;
    assert.match(path.basename(deb), /^fulcrum_[\d.]+_[a-z0-9]+\.deb$/);
    const info = run('dpkg-deb', ['-f', deb, 'Depends']).stdout;
    assert.match(info, /nodejs \(>= 18\)/);
    assert.match(info, /libc6 \(>= 2\.32\)/);
    assert.match(info, /librte-eal23/);
    assert.doesNotMatch(info, /nginx|haproxy|wrk|tcpdump|clang|gtest/, 'runtime dependencies only');

    const boot = run('debootstrap', ['--variant=minbase', 'bookworm', rootfs, 'http://deb.debian.org/debian'], { timeout: 600_000 });
    assert.equal(boot.status, 0, boot.stderr.slice(-2000));
    run('mount', ['-t', 'proc', 'proc', path.join(rootfs, 'proc')]);
    run('mount', ['-t', 'sysfs', 'sysfs', path.join(rootfs, 'sys')]);
    fs.copyFileSync(deb, path.join(rootfs, 'tmp', path.basename(deb)));
    const apt = chroot(['sh', '-c', `apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends /tmp/${path.basename(deb)}`], 600_000);
    assert.equal(apt.status, 0, apt.stdout.slice(-2000) + apt.stderr.slice(-2000));

    // what the package put where an operator looks
    for (const f of ['usr/sbin/fulcrum', 'usr/sbin/fvsadm', 'etc/fulcrum/fulcrum.yaml', 'lib/systemd/system/fulcrum.service',
      'usr/share/man/man8/fulcrum.8.gz', 'usr/share/man/man8/fvsadm.8.gz', 'usr/share/bash-completion/completions/fvsadm'])
      assert.ok(fs.existsSync(path.join(rootfs, f)), f);
    assert.equal(fs.statSync(path.join(rootfs, 'var/lib/fulcrum')).mode & 0o777, 0o700);
    assert.match(chroot(['fulcrum', '--version']).stdout, /^fulcrum [\d.]+ \(git ([0-9a-f]+|unknown), DPDK [\d.]+\)/);
    const check = chroot(['fulcrum', 'check', '--config', '/etc/fulcrum/fulcrum.yaml']);
    assert.equal(check.status, 0, check.stderr);
    assert.match(check.stdout, /\/etc\/fulcrum\/fulcrum\.yaml: ok/);

    // the unit's own command, in a namespace of its own
    const unit = fs.readFileSync(path.join(rootfs, 'lib/systemd/system/fulcrum.service'), 'utf8');
    assert.match(unit, /^Type=notify$/m);
    assert.match(unit, /^Restart=on-failure$/m);
    const execStart = /^ExecStart=(.+)$/m.exec(unit)![1].split(' ');
    run('ip', ['netns', 'add', NS]);
    run('ip', ['-n', NS, 'link', 'set', 'lo', 'up']);
    let out = '';
    serve = spawn('ip', ['netns', 'exec', NS, 'chroot', rootfs, ...execStart]);
    serve.stdout!.on('data', (d: Buffer) => { out += d; });
    serve.stderr!.on('data', (d: Buffer) => { out += d; });
    for (let i = 0; i < 300 && !/services applied; ready/.test(out); i++) await sleep(100);
    assert.match(out, /services applied; ready/);
    const fv = (cmd: string) => run('ip', ['netns', 'exec', NS, 'chroot', rootfs, 'sh', '-c', cmd]);
    // /usr/sbin/fvsadm is the native client; with no node on PATH it can only be answering itself
    assert.equal(fs.readFileSync(path.join(rootfs, 'usr/sbin/fvsadm')).subarray(0, 4).toString('latin1'), '\x7fELF');
    const alone = fv('PATH=/nonexistent; /usr/sbin/fvsadm -A -t 198.18.0.100:80 -s rr && /usr/sbin/fvsadm -a -t 198.18.0.100:80 -r 198.19.0.11:80 -m');
    assert.equal(alone.status, 0, alone.stderr);
    // a host name is this machine's to resolve: handed to the JS fvsadm
    fs.appendFileSync(path.join(rootfs, 'etc/hosts'), '198.19.0.12 fulcrum-test-rs\n');
    const named = fv('fvsadm -a -t 198.18.0.100:80 -r fulcrum-test-rs:80 -m -w 2');
    assert.equal(named.status, 0, named.stderr);
    const listing = fv('PATH=/nonexistent; /usr/sbin/fvsadm -Ln');
    assert.equal(listing.status, 0, listing.stderr);
    assert.match(listing.stdout, /^TCP {2}198\.18\.0\.100:80 rr\n {2}-> 198\.19\.0\.1[12]:80 /m);
    assert.match(listing.stdout, /^ {2}-> 198\.19\.0\.11:80 +Masq +1 /m);
    assert.match(listing.stdout, /^ {2}-> 198\.19\.0\.12:80 +Masq +2 /m);
    // (the host's curl in the director's namespace: the package does not need one)
    assert.equal(run('ip', ['netns', 'exec', NS, 'curl', '-s', '-o', '/dev/null', '-w', '%{http_code}', 'http://127.0.0.1:9390/readyz']).stdout, '200');
    // the /ui dashboard: its own files and uPlot's, from the package's production node_modules
    for (const p of ['/ui/', '/ui/ui.js', '/ui/vendor/uPlot.iife.min.js', '/ui/vendor/uPlot.min.css'])
      assert.equal(run('ip', ['netns', 'exec', NS, 'curl', '-s', '-o', '/dev/null', '-w', '%{http_code}', `http://127.0.0.1:9390${p}`]).stdout, '200', p);
  } finally {
    if (serve && serve.exitCode === null) {
      const exited = new Promise((r) => serve!.once('exit', r));
      serve.kill('SIGTERM');
      await Promise.race([exited, sleep(10_000)]);
    }
    run('ip', ['netns', 'del', NS]);
    for (const m of mountsUnder(rootfs)) run('umount', ['-l', m]);
    // never delete through a mount point still there
    if (mountsUnder(rootfs).length === 0) fs.rmSync(work, { recursive: true, force: true });
  }
});
