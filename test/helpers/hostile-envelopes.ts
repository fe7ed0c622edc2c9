import { envelopeLimits, maxEnvelopeBytes } from '../../server/soap/parse-envelope.ts';

const soap11 = 'http://schemas.xmlsoap.org/soap/envelope/';

/** A Session call envelope with `declarations` on the Envelope and `parameters` in the call. */
export function envelopeWith(parameters: string, declarations = ''): string {
  return (
    `<SOAP-ENV:Envelope xmlns:SOAP-ENV="${soap11}"${declarations}><SOAP-ENV:Body>` +
    `<m:GetExternalLoginRedirectURL xmlns:m="urn:Statistica Server">${parameters}</m:GetExternalLoginRedirectURL>` +
    '</SOAP-ENV:Body></SOAP-ENV:Envelope>'
  );
}

/** ` xmlns:n0="urn:n0" xmlns:n1="urn:n1" …`: `count` namespace declarations. */
export function namespaceDeclarations(count: number, from = 0): string {
  return Array.from({ length: count }, (_, i) => ` xmlns:n${from + i}="urn:n${from + i}"`).join('');
}

/** `count` empty elements, each bound to a namespace prefix (`n0`, declared by the caller). */
export function emptyElements(count: number, name = 'n0:e'): string {
  return `<${name}/>`.repeat(count);
}

/** An element with `count` attributes. */
export function elementWithAttributes(count: number): string {
  return `<a${Array.from({ length: count }, (_, i) => ` b${i}="v"`).join('')}/>`;
}

/** Repeats `unit` as often as fits in the space `envelopeOf('')` leaves under `maxBytes`, capped at `max`. */
function fill(
  envelopeOf: (inner: string) => string,
  unit: string,
  max = Infinity,
  maxBytes = maxEnvelopeBytes,
): string {
  const room = maxBytes - Buffer.byteLength(envelopeOf(''));
  return envelopeOf(unit.repeat(Math.min(max, Math.floor(room / Buffer.byteLength(unit)))));
}

/**
 * Issue 10's envelope: 1,500 namespace declarations on the Envelope, then as many elements as
 * fit under 64 KiB. Each element once paid for a copy of every declaration (about 1 s a request).
 */
export function declarationFlood(): string {
  return fill((inner) => envelopeWith(inner, namespaceDeclarations(1500)), '<n0:e/>');
}

/**
 * The most expensive envelopes that still fit under 64 KiB and within {@link envelopeLimits},
 * one per way of making the parser work: as many namespace declarations as allowed, declared
 * one level at a time so every lookup walks the longest scope chain; as many elements as
 * allowed; elements with as many attributes as allowed; text full of character references.
 * Then two refused by the scan: issue 10's envelope (thousands of declarations and elements) and
 * a start tag that never closes.
 */
export function worstEnvelopes(): Array<{ name: string; xml: string }> {
  const { maxElements, maxAttributes, maxNamespaceDeclarations, maxDepth } = envelopeLimits;
  // Envelope, Body and call are 3 levels; nest the rest, each declaring a share of the namespaces.
  const levels = maxDepth - 4;
  const perLevel = Math.floor((maxNamespaceDeclarations - 2) / (levels + 1));
  const open = Array.from(
    { length: levels },
    (_, i) => `<n${i * perLevel}:l${namespaceDeclarations(perLevel, (i + 1) * perLevel)}>`,
  ).join('');
  const close = Array.from({ length: levels }, (_, i) => `</n${(levels - 1 - i) * perLevel}:l>`).join('');
  const deepScopes = fill(
    (inner) => envelopeWith(`${open}${inner}${close}`, namespaceDeclarations(perLevel)),
    '<n0:e a="1" n1:b="2">x</n0:e>',
    maxElements - levels - 3,
  );
  return [
    {
      name: `${maxNamespaceDeclarations - 2} namespace declarations over ${levels + 1} levels, elements to the limit`,
      xml: deepScopes,
    },
    {
      name: `${maxElements - 3} elements (the limit)`,
      xml: fill((inner) => envelopeWith(inner, namespaceDeclarations(1)), '<n0:e>text</n0:e>', maxElements - 3),
    },
    {
      name: `elements of ${maxAttributes} attributes (the limit), as many as allowed`,
      xml: fill((inner) => envelopeWith(inner), elementWithAttributes(maxAttributes), maxElements - 3),
    },
    {
      name: 'text of character references up to 64 KiB',
      xml: fill((inner) => envelopeWith(`<RequestURL>${inner}</RequestURL>`), '&#x41;&amp;'),
    },
    {
      name: "issue 10's envelope: 1,500 declarations on one element, then elements (refused)",
      xml: declarationFlood(),
    },
    // The start-tag pattern must not backtrack over attributes more than once when no `>` comes.
    {
      name: 'a start tag of attributes up to 64 KiB that never closes (refused)',
      xml: fill((inner) => `<SOAP-ENV:Envelope xmlns:SOAP-ENV="${soap11}"><SOAP-ENV:Body><a${inner}`, ' b="1"'),
    },
  ];
}
