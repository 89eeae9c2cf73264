// The REST API as one fastify app: typebox schemas from src/control for bodies and the OpenAPI
// document, one plugin per resource, bearer-token auth when a token is configured (auth.ts:
// which token opens which route), and one error shape with an actionable message and the
// right status.
import Fastify, { LogController, type FastifyInstance, type FastifyServerOptions } from 'fastify';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { TSchema } from '@sinclair/typebox';
import { Value } from '@sinclair/typebox/value';
import { ConfigError } from '../control/config_load';
import { schemaProblems } from '../control/config_errors';
import type { Daemon } from '../control/daemon';
import type { Vrrp } from '../ha/vrrp';
import type { Bgp } from '../ha/bgp';
import { ChangeRefused } from '../control/state';
import { PersistError } from '../control/state_store';
import { authorizer } from './auth';
import { ApiError, readablePath } from './errors';
import { batchRoutes } from './routes/batch';
import { configRoutes } from './routes/config';
import { ipvsadmRoutes } from './routes/ipvsadm';
import { haRoutes } from './routes/ha';
import { metricsRoutes } from './routes/metrics';
import { probeRoutes } from './routes/probes';
import { serviceRoutes } from './routes/services';
import { syncRoutes } from './routes/sync';
import { statusRoutes } from './routes/status';
import { trafficRoutes } from './routes/traffic';
import { uiRoutes } from './routes/ui';

declare module 'fastify' {
  interface FastifyContextConfig {
    /** false: a POST that changes nothing itself, not logged as a write (its own writes are). */
    loggedAsWrite?: boolean;
  }
}

export interface ApiOptions {
  daemon: Daemon;
  /** When set, every request must carry `Authorization: Bearer <token>`, but for the probes. */
  token?: string;
  /** With token: a second token that opens GET /metrics only (Prometheus's). */
  metricsToken?: string;
  bodyLimit?: number;
  /** Largest restore (POST /v1/batch, PUT /v1/config): a 10,000-service ipvsadm -R is ~20 MB. */
  restoreBodyLimit?: number;
  logger?: FastifyServerOptions['loggerInstance'];
  /** ha.vrrp's VIP ownership, when the config has one (GET /v1/ha, drain, metrics). */
  vrrp?: Vrrp;
  /** ha.bgp's announcements, when the config has one (GET /v1/ha, drain, metrics). */
  bgp?: Bgp;
}

export async function buildApi(opts: ApiOptions): Promise<FastifyInstance> {
  const app = Fastify({
    ...(opts.logger ? { loggerInstance: opts.logger } : { logger: false }),
    bodyLimit: opts.bodyLimit ?? 1024 * 1024,
    // changes and failures are logged where they happen
    logController: new LogController({ disableRequestLogging: true }),
  }).withTypeProvider<TypeBoxTypeProvider>();

  // Requests are checked by the same compiled typebox schemas and error wording as the config
  // file (config_errors.ts: ranges named, unknown names listed, one line per problem instead
  // of ajv's per-branch union noise); query strings and path parameters are converted from
  // text first (`?limit=100` is a number).
  app.setValidatorCompiler((route) => {
    const schema = route.schema as TSchema;
    const part = route.httpPart ?? 'body';
    return (data: unknown) => {
      const value = part === 'body' ? data : Value.Convert(schema, data);
      const problems = schemaProblems(schema, value);
      if (!problems.length) return { value };
      const validation = problems.map((p) => ({ instancePath: p.path, message: p.message }));
      return { error: Object.assign(new Error(`invalid ${part}`), { validation, validationContext: part }) };
    };
  });

  if (opts.token) {
    const authorize = authorizer({ token: opts.token, metricsToken: opts.metricsToken });
    app.addHook('onRequest', async (req) => {
      const refused = authorize(req.routeOptions.config?.access, req.headers.authorization);
      if (refused) throw refused;
    });
  }

  app.setErrorHandler((err: Error & { statusCode?: number; code?: string; validation?: Array<{ instancePath: string; message?: string; params?: Record<string, unknown> }>; validationContext?: string; problems?: string[] }, req, reply) => {
    let status = 500;
    let message = err.message;
    let problems: string[] | undefined;
    let extra: Record<string, unknown> | undefined;
    if (err instanceof ApiError) {
      status = err.statusCode;
      problems = err.problems;
      extra = err.extra;
    } else if (err instanceof ChangeRefused) {
      status = err.status;
      problems = err.problems;
    } else if (err instanceof ConfigError) {
      status = 400;
      problems = err.problems;
    } else if (err instanceof PersistError) {
      // Not applied: the dataplane was put back. 507 when the disk is full, else 503.
      status = err.code === 'ENOSPC' || err.code === 'EDQUOT' ? 507 : 503;
    } else if (err.validation) {
      status = 400;
      problems = err.validation.map((v) => {
        const extra = v.params && 'additionalProperty' in v.params ? ` '${v.params.additionalProperty}'` : '';
        return `${readablePath(v.instancePath) || `(${err.validationContext ?? 'body'})`}: ${v.message ?? 'invalid'}${extra}`;
      });
      message = `invalid ${err.validationContext ?? 'request'}: ${problems.join('; ')}`;
    } else if (err.code === 'FST_ERR_CTP_BODY_TOO_LARGE') {
      status = 413;
      message = 'request body too large';
    } else if (err.code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE') {
      status = 415;
      message = 'unsupported Content-Type: send application/json (or text/plain for ipvsadm text)';
    } else if (err.code === 'FST_ERR_CTP_INVALID_JSON_BODY' || err.code === 'FST_ERR_CTP_EMPTY_JSON_BODY' || err instanceof SyntaxError) {
      status = 400;
      message = `the body is not valid JSON: ${err.message}`;
    } else if (Array.isArray(err.problems)) {
      status = 400;  // the packet core refused the config
      problems = err.problems;
    } else if (err.statusCode && err.statusCode >= 400 && err.statusCode < 500) {
      status = err.statusCode;
    }
    if (status >= 500) req.log.error({ err: err.message }, 'request failed');
    (reply as unknown as { fulcrumError?: string }).fulcrumError = message;
    reply.code(status).send({ statusCode: status, error: statusText(status), message, ...(problems ? { problems } : {}), ...extra });
  });
  // Every write is logged once: who (address, whether it carried a token), what, and the result.
  app.addHook('onResponse', async (req, reply) => {
    if (req.method === 'GET' || req.method === 'HEAD' || req.method === 'OPTIONS' || req.routeOptions.config?.loggedAsWrite === false) return;
    const o = { method: req.method, url: req.url, status: reply.statusCode, ms: Math.round(reply.elapsedTime * 10) / 10,
      remote: req.ip, token: req.headers.authorization !== undefined,
      ...((reply as unknown as { fulcrumError?: string }).fulcrumError ? { error: (reply as unknown as { fulcrumError?: string }).fulcrumError } : {}) };
    if (reply.statusCode >= 500) req.log.error(o, 'api write failed');
    else if (reply.statusCode >= 400) req.log.warn(o, 'api write refused');
    else req.log.info(o, 'api write');
  });

  app.setNotFoundHandler((req, reply) => {
    reply.code(404).send({ statusCode: 404, error: 'Not Found', message: `no route ${req.method} ${req.url}` });
  });

  await app.register(swagger, {
    openapi: {
      info: { title: 'Fulcrum director API', version: '1', description: 'Virtual services, real servers, stats, connections, timeouts, config, health and dataplane state of a Fulcrum director.' },
      components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } } },
      security: opts.token ? [{ bearer: [] }] : [],
    },
  });
  await app.register(swaggerUi, { routePrefix: '/docs' });
  app.get('/openapi.json', { schema: { hide: true } }, async () => app.swagger());

  await app.register(serviceRoutes(opts.daemon));
  const restoreLimit = Math.max(opts.restoreBodyLimit ?? 256 * 1024 * 1024, opts.bodyLimit ?? 0);
  await app.register(batchRoutes(opts.daemon, restoreLimit));
  await app.register(trafficRoutes(opts.daemon));
  await app.register(configRoutes(opts.daemon, restoreLimit));
  await app.register(ipvsadmRoutes(restoreLimit));
  await app.register(statusRoutes(opts.daemon));
  await app.register(syncRoutes(opts.daemon));
  await app.register(metricsRoutes(opts.daemon, opts.vrrp, opts.bgp));
  await app.register(haRoutes(opts.daemon, opts.vrrp, opts.bgp));
  await app.register(probeRoutes(opts.daemon));
  await app.register(uiRoutes());
  return app;
}

function statusText(s: number): string {
  return ({ 400: 'Bad Request', 401: 'Unauthorized', 403: 'Forbidden', 404: 'Not Found', 409: 'Conflict', 413: 'Payload Too Large',
    415: 'Unsupported Media Type', 500: 'Internal Server Error', 503: 'Service Unavailable', 507: 'Insufficient Storage' } as Record<number, string>)[s] ?? 'Error';
}

/** True for addresses only this host can reach. */
export function isLoopback(host: string): boolean {
  return host === 'localhost' || host.startsWith('127.') || host === '::1';
}
