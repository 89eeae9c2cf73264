// The director's log: pino JSON lines on stdout, one root logger named "fulcrum" with ISO
// timestamps, at the level `fulcrum serve --log-level` chose (info by default). Parts of the
// server log through children that say which part they are as `component` (the root's
// `name` stays the only one in a line: a child binding `name` would write the key twice).
import pino, { type DestinationStream, type Logger } from 'pino';

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];
export const isLogLevel = (s: string): s is LogLevel => (LOG_LEVELS as readonly string[]).includes(s);

export function createLogger(level: LogLevel = 'info', destination?: DestinationStream): Logger {
  const options = { name: 'fulcrum', level, timestamp: pino.stdTimeFunctions.isoTime };
  return destination ? pino(options, destination) : pino(options);
}

/** A part of the server's log: its lines carry `component`. */
export function componentLogger(log: Logger, component: string): Logger {
  return log.child({ component });
}
