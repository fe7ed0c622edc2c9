import { XMLParser } from 'fast-xml-parser';
import { checkWellFormed, type XmlLimits } from './check-well-formed.ts';
import { soapEnvelopeNs } from './namespaces.ts';
import { mustUnderstand, soapClientError, versionMismatch } from './soap-errors.ts';

/** An element with its namespace resolved and its text decoded. */
export interface XmlElement {
  /** The name as written, e.g. `m:ExternalLogin`. */
  qualifiedName: string;
  localName: string;
  /** The namespace URI, or undefined for an unqualified name. */
  namespace: string | undefined;
  attributes: XmlAttribute[];
  children: XmlElement[];
  /** The element's own text and CDATA, decoded, in order (children's text not included). */
  text: string;
}

/** An attribute with its namespace resolved. */
export interface XmlAttribute {
  localName: string;
  namespace: string | undefined;
  value: string;
}

/** A SOAP 1.1 envelope: its Header (if any) and the single element in its Body. */
export interface Envelope {
  header: XmlElement | undefined;
  /** The one Body entry: a call, a response or a Fault. */
  body: XmlElement;
}

/** Seed 002's envelopes are a few hundred bytes; 64 KiB leaves room and bounds the parse. */
export const maxEnvelopeBytes = 64 * 1024;

/** Envelope, Body, call, parameter: responses add XMLDATA and Variables. Anything deeper is hostile. */
const maxDepth = 8;

/**
 * Seed 002's envelopes hold under 30 elements, one or two attributes per element and two
 * namespace declarations. These bounds leave ample room for other SOAP toolkits (which declare
 * xsi, xsd, SOAP-ENC, … on the Envelope) while capping what a hostile 64 KiB body can make the
 * scan and the parser do.
 */
export const envelopeLimits: Readonly<XmlLimits> = {
  maxDepth,
  maxElements: 256,
  maxAttributes: 8,
  maxNamespaceDeclarations: 32,
};

const parser = new XMLParser({
  preserveOrder: true,
  ignoreAttributes: false,
  attributeNamePrefix: '',
  ignoreDeclaration: true,
  // Values stay strings ("007" is not 7) and entities are decoded below, after the DTD check.
  parseTagValue: false,
  parseAttributeValue: false,
  processEntities: false,
  trimValues: false,
  cdataPropName: '#cdata',
  maxNestedTags: maxDepth,
});

const predefinedEntities = new Map([
  ['amp', '&'],
  ['lt', '<'],
  ['gt', '>'],
  ['quot', '"'],
  ['apos', "'"],
]);
const xmlNs = 'http://www.w3.org/XML/1998/namespace';

/**
 * Parses a SOAP 1.1 envelope: checks it is well-formed and harmless, resolves namespaces, and
 * returns its Header and its one Body entry. Every refusal is a Client-fault AppError
 * (VersionMismatch for another envelope namespace, MustUnderstand for a header entry that
 * demands it).
 */
export function parseEnvelope(xml: string): Envelope {
  const document = checkWellFormed(xml, envelopeLimits);
  let nodes: unknown[];
  try {
    nodes = parser.parse(document) as unknown[];
  } catch (error) {
    throw soapClientError('soap_malformed', 'The request is not well-formed XML.', error);
  }
  const documentScope: Scope = { bindings: new Map([['xml', xmlNs]]), parent: undefined };
  const root = nodes.map((node) => toElement(node as RawNode, documentScope)).find((e) => e !== undefined);
  if (!root) throw soapClientError('soap_malformed', 'The request is not well-formed XML.');

  if (root.localName !== 'Envelope') throw soapClientError('soap_not_envelope', 'The request is not a SOAP envelope.');
  if (root.namespace !== soapEnvelopeNs) throw versionMismatch(root.namespace);
  if (root.text.trim() !== '') throw notSoap('The Envelope holds text.');

  const [first, second, ...rest] = root.children;
  const header = isSoap(first, 'Header') ? first : undefined;
  const body = header ? second : first;
  if (!isSoap(body, 'Body')) throw notSoap('The Envelope has no Body.');
  if ((header ? rest : [second, ...rest]).some((e) => e !== undefined))
    throw notSoap('The Envelope holds more than a Header and a Body.');
  for (const entry of header?.children ?? []) {
    const flag = entry.attributes.find((a) => a.namespace === soapEnvelopeNs && a.localName === 'mustUnderstand');
    if (flag?.value.trim() === '1') throw mustUnderstand(entry.localName);
  }
  if (body.text.trim() !== '') throw notSoap('The Body holds text.');
  if (body.children.length !== 1) throw notSoap('The Body must hold exactly one element.');
  return { header, body: body.children[0]! };
}

type RawNode = Record<string, unknown> & { ':@'?: Record<string, string> };

/**
 * The namespace bindings in force: an element's own declarations, then its ancestors'. A chain
 * rather than a copy per element, so the cost stays linear in the input: a copy made each
 * element pay for every declaration above it (a 60 KB envelope of declarations and elements
 * took a second of event-loop time). Lookups walk at most `maxDepth` links.
 */
interface Scope {
  bindings: ReadonlyMap<string, string>;
  parent: Scope | undefined;
}

function toElement(node: RawNode, scope: Scope): XmlElement | undefined {
  const qualifiedName = Object.keys(node).find((key) => key !== ':@');
  if (qualifiedName === undefined || qualifiedName === '#text' || qualifiedName === '#cdata') return undefined;
  const rawAttributes = Object.entries(node[':@'] ?? {});

  let declared: Map<string, string> | undefined;
  for (const [name, raw] of rawAttributes) {
    if (name === 'xmlns') (declared ??= new Map()).set('', decodeText(raw));
    else if (name.startsWith('xmlns:')) (declared ??= new Map()).set(name.slice(6), decodeText(raw));
  }
  const inner: Scope = declared ? { bindings: declared, parent: scope } : scope;
  const attributes: XmlAttribute[] = [];
  for (const [name, raw] of rawAttributes) {
    if (name === 'xmlns' || name.startsWith('xmlns:')) continue;
    const { prefix, localName } = split(name);
    // Unprefixed attributes are in no namespace, whatever the default namespace is.
    attributes.push({
      localName,
      namespace: prefix === '' ? undefined : resolve(inner, prefix),
      value: decodeText(raw),
    });
  }

  const { prefix, localName } = split(qualifiedName);
  const element: XmlElement = {
    qualifiedName,
    localName,
    namespace: prefix === '' ? lookup(inner, '') || undefined : resolve(inner, prefix),
    attributes,
    children: [],
    text: '',
  };
  for (const child of node[qualifiedName] as RawNode[]) {
    if ('#text' in child) element.text += decodeText(String(child['#text']));
    else if ('#cdata' in child)
      element.text += (child['#cdata'] as Array<{ '#text'?: unknown }>).map((c) => String(c['#text'] ?? '')).join('');
    else {
      const childElement = toElement(child, inner);
      if (childElement) element.children.push(childElement);
    }
  }
  return element;
}

function split(qualifiedName: string): { prefix: string; localName: string } {
  const colon = qualifiedName.indexOf(':');
  return colon === -1
    ? { prefix: '', localName: qualifiedName }
    : { prefix: qualifiedName.slice(0, colon), localName: qualifiedName.slice(colon + 1) };
}

function lookup(scope: Scope | undefined, prefix: string): string | undefined {
  for (let at = scope; at; at = at.parent) {
    if (at.bindings.has(prefix)) return at.bindings.get(prefix);
  }
  return undefined;
}

function resolve(scope: Scope, prefix: string): string {
  const namespace = lookup(scope, prefix);
  if (!namespace) throw soapClientError('soap_malformed', `The namespace prefix "${prefix}" is not declared.`);
  return namespace;
}

/** Decodes XML's five entities and character references; anything else was refused by the scan. */
function decodeText(raw: string): string {
  return raw.replace(/&(#x[0-9A-Fa-f]+|#[0-9]+|[a-z]+);/g, (_whole, ref: string) => {
    const entity = predefinedEntities.get(ref);
    if (entity !== undefined) return entity;
    const codePoint = ref.startsWith('#x') ? Number.parseInt(ref.slice(2), 16) : Number.parseInt(ref.slice(1), 10);
    if (!ref.startsWith('#') || !isXmlChar(codePoint))
      throw soapClientError('soap_malformed', 'The request is not well-formed XML.');
    return String.fromCodePoint(codePoint);
  });
}

function isXmlChar(c: number): boolean {
  return (
    c === 0x9 ||
    c === 0xa ||
    c === 0xd ||
    (c >= 0x20 && c <= 0xd7ff) ||
    (c >= 0xe000 && c <= 0xfffd) ||
    (c >= 0x10000 && c <= 0x10ffff)
  );
}

function isSoap(element: XmlElement | undefined, localName: string): element is XmlElement {
  return element?.namespace === soapEnvelopeNs && element.localName === localName;
}

function notSoap(message: string) {
  return soapClientError('soap_not_envelope', message);
}
