// The API client reads an NDJSON answer a line at a time as it arrives: lines and UTF-8
// characters split across chunks come out whole; a line that is not JSON is an error, not a
// crash of the process that reads it (the director runs this client for its own fvsadm).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { DirectorUnavailable, HttpApi } from '../../src/client/http';

async function serving(chunks: Buffer[], f: (api: HttpApi) => Promise<void>): Promise<void> {
  const server = http.createServer(async (_req, res) => {
    res.writeHead(200, { 'content-type': 'application/x-ndjson; charset=utf-8' });
    for (const c of chunks) {
      res.write(c);
      await new Promise((r) => setTimeout(r, 2));
    }
    res.end();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  try {
    await f(new HttpApi(`http://127.0.0.1:${(server.address() as AddressInfo).port}`));
  } finally {
    server.close();
  }
}

test('NDJSON split anywhere (inside a line, inside a character) reads as its items', async () => {
  const items = [{ name: 'café', n: 1 }, { name: 'x\ny', n: 2 }, { n: 3 }];
  const bytes = Buffer.from(items.map((x) => JSON.stringify(x)).join('\n') + '\n');
  const at = bytes.indexOf(Buffer.from('é')) + 1;  // between the two bytes of é
  await serving([bytes.subarray(0, at), bytes.subarray(at, at + 9), bytes.subarray(at + 9)], async (api) => {
    assert.deepEqual(await api.request('GET', '/v1/services?format=ndjson'), { status: 200, body: items });
  });
});

test('a line that is not JSON rejects the request', async () => {
  await serving([Buffer.from('{"n":1}\n{"n":\n')], async (api) => {
    await assert.rejects(api.request('GET', '/x'), (e: Error) => e instanceof DirectorUnavailable && /not JSON/.test(e.message));
  });
});
