import { writeSync } from 'node:fs';
import { requestContext } from './observability/observability.ts';

// The request context lives with the observability facade, which reads it on every hook; the
// log reads its request id. One direction only: observability never imports the log.
export { type RequestContext, requestContext } from './observability/observability.ts';

/** Severity of a log line, lowest first. */
export type LogLevel = 'debug' | 'info' | 'warn' | 'error';

const order: Record<LogLevel | 'silent', number> = { debug: 10, info: 20, warn: 30, error: 40, silent: 100 };

/** Members whose values are never written, whatever a caller passes in. */
const secretKeys = /token|secret|password|cookie|authorization|code_verifier|verifier|^code$|assertion|identitytoken/i;

/** A JSON-lines logger. Fields named like secrets are replaced by "[redacted]". */
export interface Logger {
  debug(msg: string, fields?: Record<string, unknown>): void;
  info(msg: string, fields?: Record<string, unknown>): void;
  warn(msg: string, fields?: Record<string, unknown>): void;
  error(msg: string, fields?: Record<string, unknown>): void;
}

/**
 * Creates a logger writing one JSON object per line to `write` (stdout, batched, by default).
 * `base` fields go on every line (e.g. the worker number under GATEHOUSE_WORKERS).
 */
export function createLogger(
  level: LogLevel | 'silent',
  write: (line: string) => void = batchedStdout,
  base: Record<string, unknown> = {},
): Logger {
  const emit = (lineLevel: LogLevel, msg: string, fields: Record<string, unknown> = {}): void => {
    if (order[lineLevel] < order[level]) return;
    const requestId = requestContext.getStore()?.requestId;
    const line = {
      time: new Date().toISOString(),
      level: lineLevel,
      msg,
      ...base,
      ...(requestId ? { requestId } : {}),
      ...redact(fields),
    };
    write(`${JSON.stringify(line)}\n`);
  };
  return {
    debug: (msg, fields) => emit('debug', msg, fields),
    info: (msg, fields) => emit('info', msg, fields),
    warn: (msg, fields) => emit('warn', msg, fields),
    error: (msg, fields) => emit('error', msg, fields),
  };
}

/**
 * Writes lines to stdout in batches: the lines of one turn of the event loop go out in one
 * write at the next, not one write (a system call, when stdout is a file) per line. What is
 * still pending when the process exits is written synchronously then, so no line is lost.
 */
export function batchedStdout(line: string): void {
  if (pendingLines.push(line) > 1) return;
  setImmediate(flushLines);
  if (!flushesAtExit) {
    flushesAtExit = true;
    process.once('exit', () => {
      if (pendingLines.length) writeSync(1, pendingLines.join(''));
      pendingLines = [];
    });
  }
}

let pendingLines: string[] = [];
let flushesAtExit = false;

function flushLines(): void {
  const lines = pendingLines;
  pendingLines = [];
  if (lines.length) process.stdout.write(lines.join(''));
}

function redact(fields: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(fields)) {
    if (secretKeys.test(key)) out[key] = '[redacted]';
    else if (value instanceof Error) out[key] = describeError(value);
    else out[key] = value;
  }
  return out;
}

/**
 * An error as a log field: name, code and message, and the same for its causes. No stack:
 * messages from HTTP libraries can quote URLs, and stacks add nothing an operator acts on.
 */
export function describeError(error: Error): Record<string, unknown> {
  const described: Record<string, unknown> = { name: error.name, message: scrub(error.message) };
  const code = (error as { code?: unknown }).code;
  if (typeof code === 'string') described.code = code;
  if (error.cause instanceof Error) described.cause = describeError(error.cause);
  return described;
}

/** Removes anything that looks like a bearer token or JWT from free text. */
export function scrub(text: string): string {
  return (
    text
      .replace(/eyJ[\w-]+\.[\w-]+\.[\w-]*/g, '[jwt]')
      // Gatehouse's own API tokens (gh_ and 43 base64url characters), wherever a message quotes one.
      .replace(/\bgh_[\w-]{20,}/g, 'gh_[redacted]')
      .replace(/(bearer\s+)[\w.~+/=-]+/gi, '$1[redacted]')
      .replace(/([?&](code|state|token|access_token|refresh_token|id_token_hint)=)[^&\s]+/gi, '$1[redacted]')
  );
}
