import { XMLBuilder } from 'fast-xml-parser';
import { sessionServiceNs, soapEncodingNs, soapEnvelopeNs } from './namespaces.ts';

/** One child of a call or response element: text, or nested fields (seed 002's XMLDATA). */
export type SoapField = readonly [name: string, value: string | readonly SoapField[]];

// One element per line, no indentation: the layout of seed 002's envelopes.
const builder = new XMLBuilder({
  preserveOrder: true,
  ignoreAttributes: false,
  attributeNamePrefix: '',
  format: true,
  indentBy: '',
  suppressEmptyNode: false,
});

/** `<m:{method}Response>` with `fields` in order, in seed 002's envelope. */
export function buildResponse(method: string, fields: readonly SoapField[]): string {
  return envelope([{ [`m:${method}Response`]: toNodes(fields), ':@': { 'xmlns:m': sessionServiceNs } }]);
}

/** A call as LiveScore clients write it: `<m:{method}>` with the SOAP encoding style and `params`. */
export function buildRequest(method: string, params: readonly SoapField[]): string {
  return envelope([
    {
      [`m:${method}`]: toNodes(params),
      ':@': { 'SOAP-ENV:encodingStyle': soapEncodingNs, 'xmlns:m': sessionServiceNs },
    },
  ]);
}

/** A SOAP 1.1 Fault with seed 002's two children. */
export function buildFault(faultcode: string, faultstring: string): string {
  return envelope([
    {
      'SOAP-ENV:Fault': toNodes([
        ['faultcode', faultcode],
        ['faultstring', faultstring],
      ]),
    },
  ]);
}

type Node = Record<string, unknown>;

function envelope(bodyContent: Node[]): string {
  const document = [
    { 'SOAP-ENV:Envelope': [{ 'SOAP-ENV:Body': bodyContent }], ':@': { 'xmlns:SOAP-ENV': soapEnvelopeNs } },
  ];
  return (builder.build(document) as string).trimStart();
}

function toNodes(fields: readonly SoapField[]): Node[] {
  return fields.map(([name, value]) => ({ [name]: typeof value === 'string' ? [{ '#text': value }] : toNodes(value) }));
}
