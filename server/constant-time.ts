import { timingSafeEqual } from 'node:crypto';

/**
 * True when two strings are equal, compared in time that does not depend on where they first
 * differ (only on their lengths), so a secret cannot be guessed one character at a time.
 */
export function constantTimeEqual(a: string, b: string): boolean {
  const left = Buffer.from(a);
  const right = Buffer.from(b);
  return left.length === right.length && timingSafeEqual(left, right);
}
