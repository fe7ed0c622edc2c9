import express, { type Request, type RequestHandler, type Response } from 'express';
import type { Logger } from '../log.ts';
import { requestContext } from '../log.ts';
import { apiTokenPrefix } from '../grants/api-token-prefix.ts';
import { clearSessionCookie, readCookie } from '../http/cookies.ts';
import { destroySession } from '../session/session-lifecycle.ts';
import type { BrowserSession } from './caller.ts';
import {
  admissionOf,
  type FormTokens,
  type Gate,
  type GateHost,
  GateRequest,
  inviteBody,
  passGate,
  refused,
} from './gate.ts';
import { routeOf } from './routes.ts';

const bearerPrefix = /^\s*bearer\s+(\S+)/i;

// Gatehouse's own forms are a few fields; each route's parser may be tighter still (it then
// finds the body read and skips).
const formBody = express.urlencoded({ extended: false, limit: '4kb', parameterLimit: 50 });

/** The Express side of the gate's host: express-session's record, the form's `csrf` field. */
class ExpressHost implements GateHost {
  constructor(
    private readonly sessionMiddleware: RequestHandler,
    private readonly secureCookies: boolean,
    private readonly sessionCookie: string,
  ) {}

  loadSession(request: GateRequest): Promise<void> {
    const req = request.req as Request;
    const res = request.res as Response;
    return new Promise((resolve, reject) =>
      this.sessionMiddleware(req, res, (error?: unknown) => (error ? reject(error) : resolve())),
    );
  }

  session(request: GateRequest): BrowserSession {
    const req = request.req as Request;
    const res = request.res as Response;
    return {
      cookie: readCookie(req, this.sessionCookie),
      data: req.session?.createdAt ? req.session : undefined,
      end: () => destroySession(req),
      // express-session writes the changed record when the response goes out.
      seen: (now) => {
        req.session.lastSeenAt = now;
      },
      clearCookie: () => clearSessionCookie(res, this.secureCookies),
    };
  }

  declaredMethods(): undefined {
    return undefined;
  }

  formTokens(request: GateRequest): Promise<FormTokens | undefined> {
    const req = request.req as Request;
    const res = request.res as Response;
    inviteBody(request);
    return new Promise((resolve, reject) =>
      formBody(req, res, (error?: unknown) => {
        if (error) return reject(error);
        const expected = req.session?.csrfToken;
        const sent = (req.body as Record<string, unknown> | undefined)?.csrf;
        resolve(expected && typeof sent === 'string' ? { expected, sent } : undefined);
      }),
    );
  }
}

/**
 * The gate as the Express app's first middleware: every page, form, JSON route, SOAP call,
 * health check and static file passes its steps before any route sees it. Sets what the
 * routes read (`req.requestId`, `req.grant`, `req.credential`, `req.apiToken`); a refusal goes
 * to the one error handler, in the form the route declared (or `Accept`'s).
 */
export function expressGate(gate: Gate, sessionMiddleware: RequestHandler): RequestHandler {
  const host = new ExpressHost(sessionMiddleware, gate.config.secureCookies, gate.sessionCookie);
  return (req, res, next) => {
    const route = routeOf(req.method, req.path);
    if (route.errorFormat) res.locals.errorFormat = route.errorFormat;
    const request = new GateRequest(req, res, host, route, req.path);
    requestContext.run(request.context, () => {
      passGate(gate, request).then(
        () => {
          req.requestId = request.requestId;
          const { caller } = request;
          if (caller.grant) req.grant = caller.grant;
          if (caller.credential) req.credential = caller.credential;
          if (caller.apiToken) req.apiToken = caller.apiToken;
          next();
        },
        (error: unknown) => {
          req.requestId = request.requestId;
          refused(request);
          // An API token's refusals are JSON whatever the path: a script is calling.
          if (bearerPrefix.exec(req.headers.authorization ?? '')?.[1]?.startsWith(apiTokenPrefix))
            res.locals.errorFormat = 'json';
          next(error);
        },
      );
    });
  };
}

/**
 * Mounted in front of every router: a request that reaches one without the gate's admission
 * fails closed (500 `internal_error`, and a log line naming the route).
 */
export function admittedOnly(logger: Logger): RequestHandler {
  return (req, _res, next) => {
    admissionOf(req, logger);
    next();
  };
}
