import type { RequestHandler } from 'express';

/** How an error is shown: a page, a JSON body, or a SOAP Fault. */
export type ErrorFormat = 'html' | 'json' | 'soap';

const declared = new WeakMap<object, ErrorFormat>();

/**
 * Declares the form a router's errors take. `createApp` applies it on the router's mount path
 * before the session and the caller are loaded, so a failure there (the store away, a rate
 * limit) answers in that form too, whatever the caller's `Accept` says.
 */
export function answersIn<T extends object>(format: ErrorFormat, router: T): T {
  declared.set(router, format);
  return router;
}

/** The form {@link answersIn} declared for a router, if any. */
export function declaredErrorFormat(router: object): ErrorFormat | undefined {
  return declared.get(router);
}

/** Sets the error form for the rest of the request; a later, narrower route may set another. */
export function errorFormat(format: ErrorFormat): RequestHandler {
  return (_req, res, next) => {
    res.locals.errorFormat = format;
    next();
  };
}
