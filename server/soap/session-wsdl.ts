import { sessionServiceNs, soapEncodingNs } from './namespaces.ts';
import type { SessionMethod } from './read-call.ts';

/** One operation of the Session service as the WSDL describes it. */
export interface SessionOperation {
  name: SessionMethod;
  /** Input parameters, all `xsd:string`. */
  input: readonly string[];
  /** Output fields; `XMLDATA` is the echo of the input. */
  output: readonly string[];
}

/** The operations, parameters and response fields of seed 002 (and Logout). */
export const sessionOperations: readonly SessionOperation[] = [
  { name: 'SessionServerInfo', input: ['SoapTransform'], output: ['ExternalAuth', 'BypassLoginPage', 'XMLDATA'] },
  {
    name: 'GetExternalLoginRedirectURL',
    input: ['SoapTransform', 'RequestURL'],
    output: ['RedirectURL', 'ContextID', 'XMLDATA'],
  },
  {
    name: 'ExternalLogin',
    input: ['SoapTransform', 'Code', 'State', 'ContextID'],
    output: ['IdentityToken', 'SWS_WSID', 'SignOutURL', 'XMLDATA'],
  },
  { name: 'Logout', input: ['SoapTransform', 'IdentityToken'], output: ['SignOutURL', 'XMLDATA'] },
];

/** The SOAPAction a WSDL-generated client sends for `method`. */
export function soapActionFor(method: SessionMethod): string {
  return `${sessionServiceNs}#${method}`;
}

/**
 * A WSDL 1.1 document for the Session service at `location`: RPC style, SOAP encoding, the
 * seed's namespace, so SOAP toolkits generate a client that sends what LiveScore clients send.
 */
export function sessionWsdl(location: string): string {
  const encodedBody = `<soap:body use="encoded" namespace="${sessionServiceNs}" encodingStyle="${soapEncodingNs}"/>`;
  const part = (name: string) => `<part name="${name}" type="${name === 'XMLDATA' ? 'tns:XMLDATA' : 'xsd:string'}"/>`;
  const messages = sessionOperations
    .map(
      (op) => `
  <message name="${op.name}Request">${op.input.map(part).join('')}</message>
  <message name="${op.name}Response">${op.output.map(part).join('')}</message>`,
    )
    .join('');
  const portOperations = sessionOperations
    .map(
      (op) => `
    <operation name="${op.name}"><input message="tns:${op.name}Request"/><output message="tns:${op.name}Response"/></operation>`,
    )
    .join('');
  const bindingOperations = sessionOperations
    .map(
      (op) => `
    <operation name="${op.name}">
      <soap:operation soapAction="${soapActionFor(op.name)}"/>
      <input>${encodedBody}</input>
      <output>${encodedBody}</output>
    </operation>`,
    )
    .join('');

  return `<?xml version="1.0" encoding="UTF-8"?>
<definitions name="Session" targetNamespace="${sessionServiceNs}"
  xmlns:tns="${sessionServiceNs}"
  xmlns:soap="http://schemas.xmlsoap.org/wsdl/soap/"
  xmlns:xsd="http://www.w3.org/2001/XMLSchema"
  xmlns="http://schemas.xmlsoap.org/wsdl/">
  <documentation>LiveScore-style Session service (external login) served by Gatehouse.</documentation>
  <types>
    <xsd:schema targetNamespace="${sessionServiceNs}">
      <xsd:complexType name="Variables">
        <xsd:sequence><xsd:any minOccurs="0" maxOccurs="unbounded" processContents="skip"/></xsd:sequence>
      </xsd:complexType>
      <xsd:complexType name="XMLDATA">
        <xsd:sequence><xsd:element name="Variables" type="tns:Variables"/></xsd:sequence>
      </xsd:complexType>
    </xsd:schema>
  </types>${messages}
  <portType name="SessionPortType">${portOperations}
  </portType>
  <binding name="SessionBinding" type="tns:SessionPortType">
    <soap:binding style="rpc" transport="http://schemas.xmlsoap.org/soap/http"/>${bindingOperations}
  </binding>
  <service name="Session">
    <port name="SessionPort" binding="tns:SessionBinding"><soap:address location="${escapeAttribute(location)}"/></port>
  </service>
</definitions>
`;
}

function escapeAttribute(text: string): string {
  return text.replace(/[&<>"]/g, (c) => `&#${c.charCodeAt(0)};`);
}
