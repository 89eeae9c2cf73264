// Which build runs: the version line `fulcrum --version` prints and GET /v1/version's facts,
// read from package.json and the file scripts/build-info writes, "unknown" for what is missing.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { readBuildInfo, versionLine } from '../../src/build_info';

function tree(files: Record<string, string>): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fulcrum-build-info-'));
  for (const [name, text] of Object.entries(files)) {
    fs.mkdirSync(path.dirname(path.join(dir, name)), { recursive: true });
    fs.writeFileSync(path.join(dir, name), text);
  }
  return dir;
}

test('the version line: package version, the commit cut to 12 characters, the DPDK version', () => {
  assert.equal(versionLine({ version: '0.1.0', commit: 'fb1f4c64cd87b28646fd6fe3e727ad656b854b4a', dpdk: '22.11.11' }),
    'fulcrum 0.1.0 (git fb1f4c64cd87, DPDK 22.11.11)');
  assert.equal(versionLine({ version: '0.1.0', commit: 'unknown', dpdk: 'unknown' }), 'fulcrum 0.1.0 (git unknown, DPDK unknown)');
});

test('read from package.json and dist/build-info.json', () => {
  const dir = tree({ 'package.json': '{"name":"fulcrum","version":"1.2.3"}',
    'dist/build-info.json': '{"commit":"0123456789abcdef0123456789abcdef01234567","dpdk":"23.11.2"}\n' });
  try {
    assert.deepEqual(readBuildInfo(dir), { version: '1.2.3', commit: '0123456789abcdef0123456789abcdef01234567', dpdk: '23.11.2' });
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('a build without the recorded file, or with a damaged one, says unknown and does not fail', () => {
  for (const files of [{ 'package.json': '{"version":"1.2.3"}' } as Record<string, string>,
    { 'package.json': '{"version":"1.2.3"}', 'dist/build-info.json': '{"commit": 12, "dpdk": ""' },
    { 'package.json': '{"version":"1.2.3"}', 'dist/build-info.json': '{"commit": 12, "dpdk": ""}' }]) {
    const dir = tree(files);
    try {
      assert.deepEqual(readBuildInfo(dir), { version: '1.2.3', commit: 'unknown', dpdk: 'unknown' });
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  }
  const empty = tree({});
  try {
    assert.equal(versionLine(readBuildInfo(empty)), 'fulcrum unknown (git unknown, DPDK unknown)');
  } finally {
    fs.rmSync(empty, { recursive: true, force: true });
  }
});
