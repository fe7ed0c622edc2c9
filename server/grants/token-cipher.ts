import { createCipheriv, createDecipheriv, hkdfSync, randomBytes } from 'node:crypto';

/** What {@link TokenCipher.openVersioned} found: the plaintext, and whether the newest secret sealed it. */
export interface Opened {
  plaintext: string;
  /** False when an older secret of the list sealed it: seal it again with the newest. */
  current: boolean;
}

/**
 * Thrown when no configured secret opens a sealed value: it was sealed under a secret since
 * removed from GATEHOUSE_SESSION_SECRET (or altered). Callers end what needed it (401), never 500.
 */
export class UnknownSecretError extends Error {
  constructor() {
    super('sealed under a secret that is no longer configured (GATEHOUSE_SESSION_SECRET), or altered');
    this.name = 'UnknownSecretError';
  }
}

/**
 * AES-256-GCM for tokens at rest. Each key is derived from a session secret with HKDF, so one
 * configured secret serves cookies and encryption without reusing the same bytes.
 * Output: base64url(iv ‖ tag ‖ ciphertext).
 *
 * Given several secrets (newest first, during a rotation), it seals with the newest and opens
 * with whichever sealed the value: GCM's tag tells a wrong key apart, so no key id is stored.
 */
export class TokenCipher {
  private readonly keys: Buffer[];

  constructor(secrets: string | readonly string[]) {
    const list = typeof secrets === 'string' ? [secrets] : secrets;
    if (list.length === 0) throw new Error('TokenCipher needs at least one secret');
    this.keys = list.map((secret) =>
      Buffer.from(hkdfSync('sha256', secret, 'gatehouse', 'gatehouse token encryption v1', 32)),
    );
  }

  /** Encrypts a value with the newest secret; `context` (e.g. the grant id) is bound as associated data. */
  seal(plaintext: string, context: string): string {
    const iv = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', this.keys[0]!, iv);
    cipher.setAAD(Buffer.from(context));
    const body = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
    return Buffer.concat([iv, cipher.getAuthTag(), body]).toString('base64url');
  }

  /** Decrypts what {@link seal} made for the same context; throws {@link UnknownSecretError} when no secret opens it. */
  open(sealed: string, context: string): string {
    return this.openVersioned(sealed, context).plaintext;
  }

  /** Like {@link open}, and says whether the value should be sealed again with the newest secret. */
  openVersioned(sealed: string, context: string): Opened {
    const raw = Buffer.from(sealed, 'base64url');
    for (const [index, key] of this.keys.entries()) {
      const plaintext = tryOpen(key, raw, context);
      if (plaintext !== undefined) return { plaintext, current: index === 0 };
    }
    throw new UnknownSecretError();
  }
}

function tryOpen(key: Buffer, raw: Buffer, context: string): string | undefined {
  if (raw.length < 28) return undefined;
  try {
    const decipher = createDecipheriv('aes-256-gcm', key, raw.subarray(0, 12));
    decipher.setAAD(Buffer.from(context));
    decipher.setAuthTag(raw.subarray(12, 28));
    return Buffer.concat([decipher.update(raw.subarray(28)), decipher.final()]).toString('utf8');
  } catch {
    return undefined;
  }
}
