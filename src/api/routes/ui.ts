// /ui: the live dashboard, plain HTML/CSS/JS (src/ui, copied beside the compiled code by
// scripts/build-info) and uPlot's browser build, read from node_modules so the Debian package's
// production node_modules carry it. The files are static and open (no token): the page asks
// the /v1 API for everything it shows, with the token the operator types into it.
import fs from 'node:fs/promises';
import path from 'node:path';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { ApiError } from '../errors';

/** The dashboard's folder: dist/src/ui beside dist/src/api/routes. */
export const UI_DIR = path.join(__dirname, '../../ui');
/** uPlot's dist folder, found as Node finds the package. */
export const UPLOT_DIR = path.join(path.dirname(require.resolve('uplot/package.json')), 'dist');

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8', '.css': 'text/css; charset=utf-8', '.js': 'text/javascript; charset=utf-8',
};

/** Every path /ui serves and the file behind it; nothing else is read from disk. */
export const UI_FILES: Record<string, string> = {
  '/ui/': path.join(UI_DIR, 'index.html'),
  '/ui/ui.css': path.join(UI_DIR, 'ui.css'),
  '/ui/ui.js': path.join(UI_DIR, 'ui.js'),
  '/ui/vendor/uPlot.min.css': path.join(UPLOT_DIR, 'uPlot.min.css'),
  '/ui/vendor/uPlot.iife.min.js': path.join(UPLOT_DIR, 'uPlot.iife.min.js'),
};

export const uiRoutes = (): FastifyPluginAsyncTypebox => async (app) => {
  const open = { config: { access: 'open' as const }, schema: { hide: true } };
  app.get('/ui', open, async (_req, reply) => reply.redirect('/ui/'));
  for (const [url, file] of Object.entries(UI_FILES)) {
    app.get(url, open, async (_req, reply) => {
      const body = await fs.readFile(file).catch((e: NodeJS.ErrnoException) => {
        throw new ApiError(500, `the dashboard's file ${file} cannot be read (${e.code ?? e.message}): rebuild (npm run build:ts) or reinstall the package`);
      });
      // The page changes with the build; a browser asks again rather than keep an old one.
      reply.header('cache-control', 'no-cache').type(TYPES[path.extname(file)]);
      // Only these files run in the page: no inline script, nothing from elsewhere.
      if (file.endsWith('.html')) reply.header('content-security-policy', "default-src 'self'; img-src 'self' data:");
      return body;
    });
  }
};
