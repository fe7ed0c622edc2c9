/** SOAP 1.1 envelope namespace, bound to the `SOAP-ENV` prefix in seed 002. */
export const soapEnvelopeNs = 'http://schemas.xmlsoap.org/soap/envelope/';

/** SOAP 1.1 encoding, named by the seed's `SOAP-ENV:encodingStyle` attribute. */
export const soapEncodingNs = 'http://schemas.xmlsoap.org/soap/encoding/';

/** The Session service's namespace, with its space, exactly as LiveScore clients send it. */
export const sessionServiceNs = 'urn:Statistica Server';
