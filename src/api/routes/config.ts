// /v1/config: the desired state saved as JSON or as `ipvsadm -S -n` text, and restored from
// either as one atomic change (a bad document changes nothing); /v1/config/reload re-reads
// the config file (as SIGHUP does). ipvsadm text is read and written by src/ipvsadm, as
// fvsadm -R reads it and fvsadm -S writes it.
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import type { Daemon } from '../../control/daemon';
import { formatSave, NUMERIC } from '../../ipvsadm/format';
import { serviceFromApi } from '../../ipvsadm/model';
import { configFromIpvsadm, IpvsadmTextError } from '../../ipvsadm/restore';
import { schemaProblems } from '../../control/config_errors';
import { ConfigSchema } from '../../control/config_schema';
import { serviceId } from '../../control/identity';
import { DYNAMIC_KEYS, type DynamicPart } from '../../control/state';
import { restoreText } from '../restore_text';
import { readStreamed } from '../body_stream';
import { refuseFileOnly } from '../edits';
import { ApiError, readablePath } from '../errors';

// The dynamic sections as a restore document may hold them, checked before anything else.
const RestoreSchema = Type.Object({
  services: Type.Optional(ConfigSchema.properties.services),
  matchRules: Type.Optional(ConfigSchema.properties.matchRules),
  timeouts: Type.Optional(ConfigSchema.properties.timeouts),
  tunnelSource: Type.Optional(ConfigSchema.properties.tunnelSource),
  tunnelSource6: Type.Optional(ConfigSchema.properties.tunnelSource6),
}, { additionalProperties: false });

export const configRoutes = (daemon: Daemon, bodyLimit: number): FastifyPluginAsyncTypebox => async (app) => {
  // Decoded as it arrives and kept as its pieces beside the request (a site's save is 5-8 MB
  // of text: joined in one go, it took the event loop for 20-30 ms); the body itself is a
  // placeholder string for the routes' schemas. A restore reads the pieces as they are.
  // Pieces of 256 KiB or more are made outside the young generation: the collections during
  // the restore do not copy them as they survive.
  const texts = new WeakMap<object, string[]>();
  app.addContentTypeParser('text/plain', { bodyLimit }, (req, payload, done) => {
    const parts: string[] = [];
    let held: string[] = [];
    let heldLength = 0;
    const flush = () => { if (held.length) parts.push(held.join('')); held = []; heldLength = 0; };
    texts.set(req, parts);
    readStreamed(req.headers, payload, bodyLimit, {
      piece: (t) => {
        if (!t) return;
        held.push(t);
        heldLength += t.length;
        if (heldLength >= 1 << 18) flush();
      },
      end: () => { flush(); return ''; },
    }, done);
  });
  // (A JSON string body, too, is ipvsadm text.)
  const textOf = (req: { body: unknown }): string[] => texts.get(req) ?? [req.body as string];

  app.get('/v1/config', {
    schema: { tags: ['config'], summary: 'Save the running services (JSON, or ?format=ipvsadm for ipvsadm -S -n text)',
      querystring: Type.Object({ format: Type.Optional(Type.Union([Type.Literal('json'), Type.Literal('ipvsadm')])) }) },
  }, async (req, reply) => {
    // How many changes this director acknowledged since it started: one per write or batch.
    reply.header('x-fulcrum-generation', String(daemon.state.generation));
    if (req.query.format === 'ipvsadm') {
      reply.type('text/plain; charset=utf-8');
      // fvsadm -S -n's bytes, sorted as ipvsadm sorts, at the configured weights
      return formatSave([...daemon.state.services()].map(serviceFromApi), NUMERIC);
    }
    return daemon.state.dynamic();
  });

  app.put('/v1/config', {
    bodyLimit,
    schema: { tags: ['config'], summary: 'Restore: a JSON document (services, matchRules, timeouts, tunnelSource, tunnelSource6) or ipvsadm -S text replaces the running services at once' },
  }, async (req) => {
    let replace: DynamicPart;
    if (typeof req.body === 'string') {
      try {
        replace = { ...await configFromIpvsadm(textOf(req).join('')) };
      } catch (e) {
        if (e instanceof IpvsadmTextError) throw new ApiError(400, e.message, [e.message]);
        throw e;
      }
    } else if (req.body && typeof req.body === 'object' && !Array.isArray(req.body)) {
      refuseFileOnly(req.body);
      const unknown = Object.keys(req.body).filter((k) => !(DYNAMIC_KEYS as readonly string[]).includes(k));
      if (unknown.length) throw new ApiError(400, 'only services, matchRules, timeouts, tunnelSource and tunnelSource6 can be restored', unknown.map((k) => `${k}: not restorable at run time`));
      const problems = schemaProblems(RestoreSchema, req.body).map((e) => `${readablePath(e.path) || '(body)'}: ${e.message}`);
      if (problems.length) throw new ApiError(400, `invalid body: ${problems.join('; ')}`, problems);
      replace = req.body as DynamicPart;
    } else {
      throw new ApiError(400, 'the body must be a JSON object or ipvsadm -S text (Content-Type: text/plain)');
    }
    const services = replace.services ?? [];
    const seen = new Map<string, number>();
    const dups: string[] = [];
    services.forEach((s, i) => {
      const id = serviceId(s);
      if (seen.has(id)) dups.push(`services[${i}]: service ${id} is also services[${seen.get(id)}]`);
      seen.set(id, i);
    });
    if (dups.length) throw new ApiError(400, `the change is refused: ${dups.join('; ')}`, dups);
    await daemon.change((d) => d.replaceAll(replace));
    return daemon.state.dynamic();
  });

  app.post('/v1/restore', {
    bodyLimit,
    schema: {
      tags: ['config'],
      summary: 'ipvsadm -R on the director: the body is its input (text/plain), applied as fvsadm -R applies it — every line parsed first (a bad one: 400 with ipvsadm\'s stderr and exit), the writes as one change, each line answered as ipvsadm answers it. Input naming hosts or ports by name, or reading the table between lines, is answered {"fallback": …}: the client runs it itself.',
      querystring: Type.Object({ program: Type.Optional(Type.String({ maxLength: 64, description: 'the name ipvsadm\'s messages use (argv[0])' })) }),
      body: Type.String(),
    },
  }, async (req) => restoreText(daemon, textOf(req), req.query.program ?? 'fvsadm'));

  app.post('/v1/config/reload', { schema: { tags: ['config'], summary: 'Re-read the config file and apply its services' } }, async () => {
    await daemon.reload();
    return daemon.state.dynamic();
  });
};
