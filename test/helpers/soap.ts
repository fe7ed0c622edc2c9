import { XMLParser } from 'fast-xml-parser';
import { requestFrom } from './request-from.ts';

/** What a SOAP POST answered. */
export interface SoapAnswer {
  status: number;
  contentType: string;
  body: string;
}

/**
 * Posts `body` to `${url}/Session` as a LiveScore client does; from `localAddress` (a loopback
 * address, see {@link requestFrom}) when given, so Gatehouse sees a distinct caller.
 */
export async function postSoap(
  url: string,
  body: string | Uint8Array,
  headers: Record<string, string> = {},
  localAddress?: string,
): Promise<SoapAnswer> {
  const init = {
    method: 'POST',
    headers: { 'content-type': 'text/xml; charset=utf-8', ...headers },
    body: typeof body === 'string' ? body : new Uint8Array(body),
  };
  if (localAddress !== undefined) {
    const answer = await requestFrom(localAddress, `${url}/Session`, init);
    return { status: answer.status, contentType: answer.headers.get('content-type') ?? '', body: answer.body };
  }
  const response = await fetch(`${url}/Session`, init);
  return {
    status: response.status,
    contentType: response.headers.get('content-type') ?? '',
    body: await response.text(),
  };
}

/** A call envelope written by hand the way seed 002 writes them (independent of the server's builder). */
export function callEnvelope(method: string, params: Array<[string, string]>): string {
  const escapeXml = (text: string) => text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
  return `<SOAP-ENV:Envelope xmlns:SOAP-ENV="http://schemas.xmlsoap.org/soap/envelope/">
<SOAP-ENV:Body>
<m:${method} SOAP-ENV:encodingStyle="http://schemas.xmlsoap.org/soap/encoding/" xmlns:m="urn:Statistica Server">
<SoapTransform>no</SoapTransform>
${params.map(([name, value]) => `<${name}>${escapeXml(value)}</${name}>`).join('\n')}
</m:${method}>
</SOAP-ENV:Body>
</SOAP-ENV:Envelope>`;
}

/** Calls one method and returns the answer; from `localAddress` when given (see {@link postSoap}). */
export function callSoap(
  url: string,
  method: string,
  params: Array<[string, string]> = [],
  headers: Record<string, string> = {},
  localAddress?: string,
): Promise<SoapAnswer> {
  return postSoap(url, callEnvelope(method, params), headers, localAddress);
}

const parser = new XMLParser({
  preserveOrder: true,
  ignoreAttributes: false,
  attributeNamePrefix: '',
  parseTagValue: false,
  trimValues: true,
});

type Node = Record<string, unknown>;

/**
 * The structure of an XML document: one line per element in document order, its path of
 * qualified names and its namespace declarations, e.g.
 * `SOAP-ENV:Envelope/SOAP-ENV:Body/m:SessionServerInfoResponse xmlns:m=urn:Statistica Server`.
 */
export function shape(xml: string): string[] {
  const lines: string[] = [];
  const walk = (nodes: Node[], path: string) => {
    for (const node of nodes) {
      const name = Object.keys(node).find((k) => k !== ':@' && k !== '#text');
      if (!name) continue;
      const declarations = Object.entries((node[':@'] ?? {}) as Record<string, string>)
        .filter(([k]) => k === 'xmlns' || k.startsWith('xmlns:'))
        .map(([k, v]) => ` ${k}=${v}`)
        .join('');
      lines.push(`${path}${name}${declarations}`);
      walk(node[name] as Node[], `${path}${name}/`);
    }
  };
  walk(parser.parse(xml) as Node[], '');
  return lines;
}

/** The text of every element called `localName` (any prefix), in document order. */
export function texts(xml: string, localName: string): string[] {
  const found: string[] = [];
  const walk = (nodes: Node[]) => {
    for (const node of nodes) {
      const name = Object.keys(node).find((k) => k !== ':@' && k !== '#text');
      if (!name) continue;
      const children = node[name] as Node[];
      if (name === localName || name.endsWith(`:${localName}`)) {
        found.push(children.map((c) => (typeof c['#text'] === 'string' ? c['#text'] : '')).join(''));
      }
      walk(children);
    }
  };
  walk(parser.parse(xml) as Node[]);
  return found;
}

/** The text of the one element called `localName`; throws when there is not exactly one. */
export function text(xml: string, localName: string): string {
  const all = texts(xml, localName);
  if (all.length !== 1) throw new Error(`expected one <${localName}>, found ${all.length} in ${xml}`);
  return all[0]!;
}

/** faultcode and faultstring of a Fault answer. */
export function fault(answer: SoapAnswer): { faultcode: string; faultstring: string } {
  return { faultcode: text(answer.body, 'faultcode'), faultstring: text(answer.body, 'faultstring') };
}

/** Base64 → text, as LiveScore clients decode RedirectURL and SignOutURL. */
export function decodeBase64(value: string): string {
  return Buffer.from(value, 'base64').toString('utf8');
}
