// /ui serves the dashboard: its page, script and style from dist/src/ui (copied there by the
// build, so the package has them too) and uPlot's browser build from node_modules, each with
// its content type, without a token even where the API needs one; nothing else under /ui.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { buildApi } from '../../src/api/app';
import { UI_FILES } from '../../src/api/routes/ui';
import type { Daemon } from '../../src/control/daemon';

const standIn = { notReady: () => undefined, addon: { running: () => true } } as unknown as Daemon;

test('every file /ui serves exists: the page and uPlot\'s dist files', () => {
  for (const [url, file] of Object.entries(UI_FILES)) assert.ok(fs.statSync(file).size > 0, `${url}: ${file}`);
  assert.match(UI_FILES['/ui/vendor/uPlot.iife.min.js'], /node_modules\/uplot\/dist\/uPlot\.iife\.min\.js$/);
});

test('the page, its script, its style and uPlot\'s, each with its content type, without a token', async () => {
  const api = await buildApi({ daemon: standIn, token: 'the-api-token-0123456789' });
  try {
    const want: [string, RegExp, RegExp][] = [
      ['/ui/', /^text\/html; charset=utf-8$/, /<script src="ui\.js"><\/script>/],
      ['/ui/ui.js', /^text\/javascript/, /\/v1\/services/],
      ['/ui/ui.css', /^text\/css/, /\.health-down/],
      ['/ui/vendor/uPlot.iife.min.js', /^text\/javascript/, /uPlot/],
      ['/ui/vendor/uPlot.min.css', /^text\/css/, /\.uplot/],
    ];
    for (const [url, type, body] of want) {
      const r = await api.inject({ url });
      assert.equal(r.statusCode, 200, `${url}: ${r.body.slice(0, 200)}`);
      assert.match(String(r.headers['content-type']), type, url);
      assert.match(r.body, body, url);
    }
    const page = await api.inject({ url: '/ui/' });
    assert.match(String(page.headers['content-security-policy']), /default-src 'self'/, 'the page runs its own files only');
    const bare = await api.inject({ url: '/ui' });
    assert.equal(bare.statusCode, 302);
    assert.equal(bare.headers.location, '/ui/');
    for (const url of ['/ui/../package.json', '/ui/index.html.bak', '/ui/vendor/uPlot.cjs.js', '/ui/%2e%2e/%2e%2e/package.json'])
      assert.notEqual((await api.inject({ url })).statusCode, 200, url);
    assert.equal((await api.inject({ url: '/v1/services' })).statusCode, 401, 'the data behind the page keeps its token');
  } finally {
    await api.close();
  }
});
