import { AppError } from '../errors.ts';
import { buildRequest, type SoapField } from './build-envelope.ts';
import { guidPattern } from './guid.ts';
import { soapEnvelopeNs } from './namespaces.ts';
import { maxEnvelopeBytes, parseEnvelope, type XmlElement } from './parse-envelope.ts';
import type { SessionMethod } from './read-call.ts';
import { soapActionFor } from './session-wsdl.ts';

/** What ExternalLogin answers, decoded. */
export interface ExternalLoginAnswer {
  identityToken: string;
  workspaceId: string;
  /** The IdP sign-out URL, or undefined when the server sent none. */
  signOutUrl: string | undefined;
}

/**
 * A client of a LiveScore-compatible Session service (this Gatehouse's own `/Session`, or
 * another server), sending exactly what seed 002's clients send. A Client fault becomes a 400
 * `external_login_refused` carrying the server's faultstring; a Server fault or an unreadable
 * answer a 502; no answer a 503.
 */
export class SoapClient {
  constructor(
    private readonly url: string,
    private readonly timeoutMs: number,
  ) {}

  /** Seed step 1: is external login enabled there? */
  async sessionServerInfo(forwardedFor?: string): Promise<{ externalAuth: boolean; bypassLoginPage: boolean }> {
    const fields = await this.call('SessionServerInfo', [], forwardedFor);
    return {
      externalAuth: fields.get('ExternalAuth') === 'enabled',
      bypassLoginPage: fields.get('BypassLoginPage') === 'enabled',
    };
  }

  /** Seed step 2: the IdP URL to send the browser to, and the ContextID to keep in its cookie. */
  async getExternalLoginRedirectURL(
    requestUrl: string,
    forwardedFor?: string,
  ): Promise<{ redirectUrl: string; contextId: string }> {
    const fields = await this.call('GetExternalLoginRedirectURL', [['RequestURL', requestUrl]], forwardedFor);
    const redirectUrl = decodeUrl(fields.get('RedirectURL'));
    const contextId = fields.get('ContextID') ?? '';
    if (!redirectUrl || !guidPattern.test(contextId)) throw unusableAnswer('GetExternalLoginRedirectURL');
    return { redirectUrl, contextId };
  }

  /** Seed step 6: code, state and ContextID for an IdentityToken. */
  async externalLogin(
    input: { code: string; state: string; contextId: string },
    forwardedFor?: string,
  ): Promise<ExternalLoginAnswer> {
    const fields = await this.call(
      'ExternalLogin',
      [
        ['Code', input.code],
        ['State', input.state],
        ['ContextID', input.contextId],
      ],
      forwardedFor,
    );
    const identityToken = fields.get('IdentityToken') ?? '';
    const workspaceId = fields.get('SWS_WSID') ?? '';
    if (!identityToken || identityToken.length > 4096 || !workspaceId || workspaceId.length > 200)
      throw unusableAnswer('ExternalLogin');
    return { identityToken, workspaceId, signOutUrl: decodeUrl(fields.get('SignOutURL')) };
  }

  /** Ends the IdentityToken's login at the server; answers the IdP sign-out URL. */
  async logout(identityToken: string, forwardedFor?: string): Promise<{ signOutUrl: string | undefined }> {
    const fields = await this.call('Logout', [['IdentityToken', identityToken]], forwardedFor);
    return { signOutUrl: decodeUrl(fields.get('SignOutURL')) };
  }

  /**
   * One call; answers the response's text fields by name. `forwardedFor` is the browser's
   * address, sent as X-Forwarded-For: Gatehouse calls the service on the browser's behalf, and
   * the service's rate limits (this Gatehouse's own, which trusts loopback by default) must
   * count the browser, not Gatehouse.
   */
  private async call(
    method: SessionMethod,
    params: readonly SoapField[],
    forwardedFor?: string,
  ): Promise<Map<string, string>> {
    let text: string;
    try {
      const response = await fetch(this.url, {
        method: 'POST',
        headers: {
          'content-type': 'text/xml; charset=utf-8',
          soapaction: `"${soapActionFor(method)}"`,
          ...(forwardedFor ? { 'x-forwarded-for': forwardedFor } : {}),
        },
        body: buildRequest(method, [['SoapTransform', 'no'], ...params]),
        redirect: 'error',
        signal: AbortSignal.timeout(this.timeoutMs),
      });
      text = await readLimited(response, maxEnvelopeBytes);
    } catch (error) {
      throw new AppError('soap_server_unavailable', 'The external login server is unreachable; try again shortly.', {
        cause: error,
        expose: true,
      });
    }

    let entry: XmlElement;
    try {
      entry = parseEnvelope(text).body;
    } catch (error) {
      throw unusableAnswer(method, error);
    }
    if (entry.namespace === soapEnvelopeNs && entry.localName === 'Fault') {
      const faultcode = childText(entry, 'faultcode');
      const faultstring = childText(entry, 'faultstring').slice(0, 200);
      if (faultcode === 'Client' || faultcode.endsWith(':Client')) {
        throw new AppError('external_login_refused', `The external login server refused: ${faultstring}`);
      }
      throw unusableAnswer(method, new Error(`${faultcode}: ${faultstring}`));
    }
    if (entry.localName !== `${method}Response`) throw unusableAnswer(method);
    return new Map(
      entry.children
        .filter((child) => child.children.length === 0)
        .map((child) => [child.localName, child.text.trim()]),
    );
  }
}

/** Reads at most `limit` bytes of a body: a hostile or broken server cannot exhaust memory. */
async function readLimited(response: Response, limit: number): Promise<string> {
  const chunks: Uint8Array[] = [];
  let size = 0;
  for await (const chunk of response.body ?? []) {
    size += chunk.byteLength;
    if (size > limit) throw new Error(`SOAP answer larger than ${limit} bytes`);
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString('utf8');
}

function childText(element: XmlElement, localName: string): string {
  return element.children.find((child) => child.localName === localName)?.text.trim() ?? '';
}

/** A base64 URL field (RedirectURL, SignOutURL), decoded; only http(s) URLs are used. */
function decodeUrl(field: string | undefined): string | undefined {
  if (!field) return undefined;
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(field)) throw unusableAnswer('a URL field');
  const text = Buffer.from(field, 'base64').toString('utf8');
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw unusableAnswer('a URL field');
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') throw unusableAnswer('a URL field');
  return url.href;
}

function unusableAnswer(what: string, cause?: unknown): AppError {
  return new AppError('soap_server_failed', 'The external login server failed; try again shortly.', {
    cause: cause ?? new Error(`unusable answer to ${what}`),
    expose: true,
  });
}
