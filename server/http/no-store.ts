import type { RequestHandler } from 'express';

/**
 * `Cache-Control: no-store` on every answer of the routes it is mounted on: pages and JSON
 * that show a user's data, CSRF tokens or sign-in redirects must not be kept by the browser
 * or a shared cache. (The error handler sets it on errors anyway.)
 */
export const noStore: RequestHandler = (_req, res, next) => {
  res.setHeader('Cache-Control', 'no-store');
  next();
};
