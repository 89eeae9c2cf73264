// Who may call what when api.tokenFile is set. Every route needs its bearer token, except:
// the probes (/healthz, /readyz), which systemd and Kubernetes call without one and which tell
// nothing but up or not; the dashboard's static files (/ui), whose page asks the API with the
// token the operator gives it; and /metrics, which also takes api.metricsTokenFile's token, one
// Prometheus can hold that opens nothing else. A route names its rule in its config
// (`config: { access }`), beside its schema. Tokens are compared in constant time, as digests
// so their lengths never leak either.
import crypto from 'node:crypto';
import { ApiError } from './errors';

/** A route's rule: 'token' (the default) needs the token; 'metrics' takes the metrics token too;
 * 'open' needs none. */
export type Access = 'token' | 'metrics' | 'open';

declare module 'fastify' {
  interface FastifyContextConfig {
    /** The route's auth rule; absent: 'token'. */
    access?: Access;
  }
}

export interface Tokens {
  /** api.tokenFile's: opens every route. */
  token: string;
  /** api.metricsTokenFile's: opens the 'metrics' routes only. */
  metricsToken?: string;
}

const digest = (s: string) => crypto.createHash('sha256').update(s).digest();

/** The check of one request by its route's rule and its Authorization header: undefined when it
 * may pass, else the error to answer with (401 without a valid token, 403 for the metrics
 * token on any other route). */
export function authorizer(tokens: Tokens): (access: Access | undefined, authorization: string | undefined) => ApiError | undefined {
  const want = digest(tokens.token);
  const wantMetrics = tokens.metricsToken !== undefined ? digest(tokens.metricsToken) : undefined;
  return (access, authorization) => {
    if (access === 'open') return undefined;
    // The scheme name is case-insensitive (RFC 7235 §2.1).
    const m = /^bearer +(.*)$/i.exec(authorization ?? '');
    const got = digest(m ? m[1].trim() : '');
    if (crypto.timingSafeEqual(got, want)) return undefined;
    if (wantMetrics && crypto.timingSafeEqual(got, wantMetrics)) {
      return access === 'metrics' ? undefined
        : new ApiError(403, 'the metrics token opens GET /metrics only; this needs the API token (api.tokenFile)');
    }
    return new ApiError(401, 'missing or wrong bearer token (Authorization: Bearer <token>)');
  };
}
