// The REST API as one fastify app: typebox schemas from src/control for bodies and the OpenAPI
// document, one plugin per resource, bearer-token auth when a token is configured, and one
// error shape with an actionable message and the right status.
import crypto from 'node:crypto';
import Fastify, { type FastifyInstance, type FastifyServerOptions } from 'fastify';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { ConfigError } from '../control/config_load';
import type { Daemon } from '../control/daemon';
import { ChangeRefused } from '../control/state';
import { ApiError, readablePath } from './errors';
import { batchRoutes } from './routes/batch';
import { configRoutes } from './routes/config';
import { metricsRoutes } from './routes/metrics';
import { serviceRoutes } from './routes/services';
import { statusRoutes } from './routes/status';
import { trafficRoutes } from './routes/traffic';

export interface ApiOptions {
  daemon: Daemon;
  /** When set, every request must carry `Authorization: Bearer <token>`. */
  token?: string;
  bodyLimit?: number;
  logger?: FastifyServerOptions['loggerInstance'];
}

const digest = (s: string) => crypto.createHash('sha256').update(s).digest();

export async function buildApi(opts: ApiOptions): Promise<FastifyInstance> {
  const app = Fastify({
    ...(opts.logger ? { loggerInstance: opts.logger } : { logger: false }),
    bodyLimit: opts.bodyLimit ?? 1024 * 1024,
    disableRequestLogging: true,  // changes and failures are logged where they happen
    ajv: { customOptions: { allErrors: true, removeAdditional: false, coerceTypes: 'array', useDefaults: false } },
  }).withTypeProvider<TypeBoxTypeProvider>();

  if (opts.token) {
    const want = digest(opts.token);
    app.addHook('onRequest', async (req) => {
      const h = req.headers.authorization ?? '';
      const got = digest(h.startsWith('Bearer ') ? h.slice(7) : '');
      // Compared in constant time, on digests so lengths never leak either.
      if (!crypto.timingSafeEqual(got, want)) throw new ApiError(401, 'missing or wrong bearer token (Authorization: Bearer <token>)');
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
    } else if (err instanceof ChangeRefused || err instanceof ConfigError) {
      status = 400;
      problems = err.problems;
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
    reply.code(status).send({ statusCode: status, error: statusText(status), message, ...(problems ? { problems } : {}), ...extra });
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
  await app.register(batchRoutes(opts.daemon));
  await app.register(trafficRoutes(opts.daemon));
  await app.register(configRoutes(opts.daemon));
  await app.register(statusRoutes(opts.daemon));
  await app.register(metricsRoutes(opts.daemon));
  return app;
}

function statusText(s: number): string {
  return ({ 400: 'Bad Request', 401: 'Unauthorized', 404: 'Not Found', 409: 'Conflict', 413: 'Payload Too Large',
    415: 'Unsupported Media Type', 500: 'Internal Server Error' } as Record<number, string>)[s] ?? 'Error';
}

/** True for addresses only this host can reach. */
export function isLoopback(host: string): boolean {
  return host === 'localhost' || host.startsWith('127.') || host === '::1';
}
