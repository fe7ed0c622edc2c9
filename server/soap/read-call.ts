import type { Envelope } from './parse-envelope.ts';
import { sessionServiceNs } from './namespaces.ts';
import { soapClientError } from './soap-errors.ts';

/** The Session service's methods: seed 002's three, and Logout. */
export const sessionMethods = ['SessionServerInfo', 'GetExternalLoginRedirectURL', 'ExternalLogin', 'Logout'] as const;

/** A Session service method name. */
export type SessionMethod = (typeof sessionMethods)[number];

/** A call to the Session service: the method and its parameters, in the order sent. */
export interface SoapCall {
  method: SessionMethod;
  /** Parameter name → trimmed text. A Map, so no parameter name can reach Object.prototype. */
  params: ReadonlyMap<string, string>;
}

const maxParams = 32;

/**
 * Reads a call from a parsed envelope: a known method in `urn:Statistica Server` whose
 * parameters are text elements, each at most once. Anything else is a Client fault.
 */
export function readCall({ body }: Envelope): SoapCall {
  const method = sessionMethods.find((name) => name === body.localName);
  if (body.namespace !== sessionServiceNs || method === undefined) {
    throw soapClientError('soap_unknown_method', `Unknown method ${body.qualifiedName}.`);
  }
  if (body.text.trim() !== '')
    throw soapClientError('soap_bad_parameter', `${method} holds text outside its parameters.`);
  if (body.children.length > maxParams)
    throw soapClientError('soap_bad_parameter', `${method} has more than ${maxParams} parameters.`);

  const params = new Map<string, string>();
  for (const param of body.children) {
    if (params.has(param.localName)) {
      throw soapClientError('soap_duplicate_parameter', `Parameter ${param.localName} appears more than once.`);
    }
    // Parameters are unqualified in seed 002; in the method's namespace is the same call.
    if (param.namespace !== undefined && param.namespace !== sessionServiceNs) {
      throw soapClientError('soap_bad_parameter', `Parameter ${param.qualifiedName} is in an unknown namespace.`);
    }
    if (param.children.length > 0)
      throw soapClientError('soap_bad_parameter', `Parameter ${param.localName} must be text.`);
    params.set(param.localName, param.text.trim());
  }
  return { method, params };
}

/** A parameter the method cannot do without. */
export function requiredParam(call: SoapCall, name: string): string {
  const value = call.params.get(name);
  if (!value) throw soapClientError('soap_missing_parameter', `${call.method} needs ${name}.`);
  return value;
}
