// cookie-signature (the signer express-session uses for its cookie) ships no types.
declare module 'cookie-signature' {
  /** `value.<HMAC-SHA256, base64 without padding>`. */
  export function sign(value: string, secret: string): string;
  /** The value, when the signature is right; false otherwise (compared in constant time). */
  export function unsign(signed: string, secret: string): string | false;
}
