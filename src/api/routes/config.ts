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
import type { ServiceConfig } from '../../control/config_schema';
import { DYNAMIC_KEYS, dynamicPart } from '../../control/state';
import { checkServiceBody } from '../edits';
import { ApiError } from '../errors';

export const configRoutes = (daemon: Daemon): FastifyPluginAsyncTypebox => async (app) => {
  app.addContentTypeParser('text/plain', { parseAs: 'string' }, (_req, body, done) => done(null, body));

  app.get('/v1/config', {
    schema: { tags: ['config'], summary: 'Save the running services (JSON, or ?format=ipvsadm for ipvsadm -S -n text)',
      querystring: Type.Object({ format: Type.Optional(Type.Union([Type.Literal('json'), Type.Literal('ipvsadm')])) }) },
  }, async (req, reply) => {
    const cfg = daemon.state.current;
    // How many changes this director acknowledged since it started: one per write or batch.
    reply.header('x-fulcrum-generation', String(daemon.state.generation));
    if (req.query.format === 'ipvsadm') {
      reply.type('text/plain; charset=utf-8');
      // fvsadm -S -n's bytes, sorted as ipvsadm sorts, at the configured weights
      return formatSave((cfg.services ?? []).map(serviceFromApi), NUMERIC);
    }
    return dynamicPart(cfg);
  });

  app.put('/v1/config', {
    schema: { tags: ['config'], summary: 'Restore: a JSON document (services, matchRules, timeouts, tunnelSource) or ipvsadm -S text replaces the running services at once' },
  }, async (req) => {
    let replace: Record<string, unknown>;
    if (typeof req.body === 'string') {
      try {
        replace = { ...await configFromIpvsadm(req.body) };
      } catch (e) {
        if (e instanceof IpvsadmTextError) throw new ApiError(400, e.message, [e.message]);
        throw e;
      }
    } else if (req.body && typeof req.body === 'object' && !Array.isArray(req.body)) {
      replace = req.body as Record<string, unknown>;
      const unknown = Object.keys(replace).filter((k) => !(DYNAMIC_KEYS as readonly string[]).includes(k));
      if (unknown.length) throw new ApiError(400, 'only services, matchRules, timeouts and tunnelSource can be restored', unknown.map((k) => `${k}: not restorable at run time`));
    } else {
      throw new ApiError(400, 'the body must be a JSON object or ipvsadm -S text (Content-Type: text/plain)');
    }
    ((replace.services ?? []) as ServiceConfig[]).forEach((s) => checkServiceBody(s));
    await daemon.change((cfg) => {
      for (const k of DYNAMIC_KEYS) delete cfg[k];
      Object.assign(cfg, replace);
    });
    return dynamicPart(daemon.state.current);
  });

  app.post('/v1/config/reload', { schema: { tags: ['config'], summary: 'Re-read the config file and apply its services' } }, async () => {
    await daemon.reload();
    return dynamicPart(daemon.state.current);
  });
};
