import { createHash, randomBytes } from 'node:crypto';

/** An opaque random value of `bytes` bytes (default 32, i.e. 256 bits), base64url. */
export function randomHandle(bytes = 32): string {
  return randomBytes(bytes).toString('base64url');
}

/** The store key for a handle: its SHA-256, so a store dump reveals no usable handle. */
export function hashHandle(handle: string): string {
  return createHash('sha256').update(handle).digest('base64url');
}
