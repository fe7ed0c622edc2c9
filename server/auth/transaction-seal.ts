import { createCipheriv, createDecipheriv, hkdfSync, randomBytes } from 'node:crypto';

/**
 * The AES-256-GCM key for sealing login transactions, derived from one session secret with
 * HKDF under a label of its own, so these bytes are never the cookie signer's or the token
 * cipher's.
 */
export function transactionSealKey(secret: string): Buffer {
  return Buffer.from(hkdfSync('sha256', secret, 'gatehouse', 'gatehouse login transaction v1', 32));
}

/**
 * Seals and opens login transactions carried by the browser (AES-256-GCM: confidential and
 * tamper-proof). Takes the session secrets newest first: the newest seals, each one is tried
 * to open, so a transaction started just before a secret rotation still completes.
 * Output: base64url(iv ‖ tag ‖ ciphertext).
 */
export class TransactionSeal {
  private readonly keys: Buffer[];

  constructor(secrets: readonly string[]) {
    if (secrets.length === 0) throw new Error('TransactionSeal needs at least one secret');
    this.keys = secrets.map(transactionSealKey);
  }

  /** Seals `plaintext`; `context` (the cookie's name) is bound as associated data. */
  seal(plaintext: string, context: string): string {
    const iv = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', this.keys[0]!, iv);
    cipher.setAAD(Buffer.from(context));
    const body = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
    return Buffer.concat([iv, cipher.getAuthTag(), body]).toString('base64url');
  }

  /** What {@link seal} sealed for the same context, or undefined when it was altered, foreign or malformed. */
  open(sealed: string, context: string): string | undefined {
    const raw = Buffer.from(sealed, 'base64url');
    if (raw.length < 29) return undefined;
    for (const key of this.keys) {
      try {
        const decipher = createDecipheriv('aes-256-gcm', key, raw.subarray(0, 12));
        decipher.setAAD(Buffer.from(context));
        decipher.setAuthTag(raw.subarray(12, 28));
        return Buffer.concat([decipher.update(raw.subarray(28)), decipher.final()]).toString('utf8');
      } catch {
        // Not this key's: try the next (an older secret).
      }
    }
    return undefined;
  }
}
