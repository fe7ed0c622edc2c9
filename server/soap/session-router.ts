import express, { type Request, type RequestHandler, Router } from 'express';
import { AppError } from '../errors.ts';
import { clientAddress } from '../http/rate-limits.ts';
import { buildResponse } from './build-envelope.ts';
import { soapEnvelopeNs } from './namespaces.ts';
import { maxEnvelopeBytes, parseEnvelope } from './parse-envelope.ts';
import { readCall } from './read-call.ts';
import type { SessionService } from './session-service.ts';
import { sessionWsdl } from './session-wsdl.ts';
import { soapClientError, versionMismatch } from './soap-errors.ts';

// application/soap+xml is SOAP 1.2's type: let it through so the envelope gets VersionMismatch.
const xmlContentType = /^(?:text\/xml|application\/xml|application\/soap\+xml)\s*(?:;|$)/i;

/**
 * `/Session`: the SOAP 1.1 Session service (`POST`) and its WSDL (`GET ?wsdl`). Every error
 * becomes a Fault through the one error handler (HTTP 500, as SOAP 1.1 says).
 */
export function sessionRouter(service: SessionService, wsdlLocation: string): Router {
  const router = Router();
  router.use((_req, res, next) => {
    res.locals.errorFormat = 'soap';
    next();
  });

  router.get('/', (req, res) => {
    if (!wantsWsdl(req)) throw methodNotAllowed();
    res.type('text/xml; charset=utf-8').send(sessionWsdl(wsdlLocation));
  });

  router.post('/', requireXml, readBody, async (req, res) => {
    if (typeof req.body !== 'string') throw soapClientError('soap_malformed', 'The request has no SOAP envelope.');
    const envelope = parseEnvelope(req.body);
    // A SOAP 1.1 envelope sent as SOAP 1.2's media type is a client mixing the two versions.
    if (/^application\/soap\+xml/i.test(req.get('content-type') ?? '')) throw versionMismatch(soapEnvelopeNs);
    const call = readCall(envelope);
    checkSoapAction(req.get('soapaction'), call.method);
    const fields = await service.call(call, { address: clientAddress(req) });
    res.setHeader('Cache-Control', 'no-store');
    res.type('text/xml; charset=utf-8').send(buildResponse(call.method, fields));
  });

  router.all('/', () => {
    throw methodNotAllowed();
  });
  return router;
}

// Compressed bodies are refused (415) so the 64 KiB limit bounds what is parsed.
const readBody = express.text({ type: () => true, limit: maxEnvelopeBytes, inflate: false, defaultCharset: 'utf-8' });

const requireXml: RequestHandler = (req, _res, next) => {
  next(xmlContentType.test(req.get('content-type') ?? '')
    ? undefined
    : soapClientError('soap_content_type', 'Content-Type must be text/xml.'));
};

/**
 * SOAP 1.1's SOAPAction header states the intent of the call; when present and not empty it
 * must name the method in the Body (`ExternalLogin`, `urn:Statistica Server#ExternalLogin`, …),
 * so a gateway routing on the header and this service act on the same call.
 */
function checkSoapAction(header: string | undefined, method: string): void {
  if (header === undefined) return;
  const action = header.trim().replace(/^"(.*)"$/, '$1').trim();
  if (action === '') return;
  if (action.split(/[#/:]/).pop() !== method) {
    throw soapClientError('soap_action_mismatch', `SOAPAction does not name the method in the Body (${method}).`);
  }
}

function wantsWsdl(req: Request): boolean {
  const query = new URL(req.originalUrl, 'http://placeholder').searchParams;
  return query.has('wsdl') || query.has('WSDL');
}

function methodNotAllowed(): AppError {
  return new AppError(405, 'method_not_allowed', 'POST SOAP calls to /Session; GET /Session?wsdl describes them.');
}
