// One shape for every error the API returns, with the status that says what went wrong:
// 400 (with every problem by its path), 401, 403, 404, 409, 413, 415, 500, 503, 507.
export class ApiError extends Error {
  constructor(readonly statusCode: number, message: string, readonly problems?: string[],
    /** Extra fields for the JSON body, e.g. which of a service or a real server is missing. */
    readonly extra?: Record<string, unknown>) {
    super(message);
  }
}

export const notFound = (what: string, missing?: 'service' | 'server') =>
  new ApiError(404, `${what} not found`, undefined, missing ? { missing } : undefined);
export const conflict = (what: string) => new ApiError(409, what);

/** ajv's instancePath (/realServers/0/weight) as people read it (realServers[0].weight). */
export { readablePath } from '../control/config_load';
