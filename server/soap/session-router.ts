import express, { type Request, type RequestHandler, type Response, Router } from 'express';
import { AppError } from '../errors.ts';
import { answersIn } from '../http/error-format.ts';
import { noStore } from '../http/no-store.ts';
import { clientAddress } from '../http/rate-limits.ts';
import { buildResponse } from './build-envelope.ts';
import { soapEnvelopeNs } from './namespaces.ts';
import { maxEnvelopeBytes, parseEnvelope } from './parse-envelope.ts';
import { readCall } from './read-call.ts';
import type { SessionService } from './session-service.ts';
import { sessionWsdl } from './session-wsdl.ts';
import { soapClientError, versionMismatch } from './soap-errors.ts';
import { observed } from '../observability/observability.ts';

// application/soap+xml is SOAP 1.2's type: let it through so the envelope gets VersionMismatch.
const xmlContentType = /^(?:text\/xml|application\/xml|application\/soap\+xml)\s*(?:;|$)/i;

/** The methods `/Session` answers: POST for calls, GET for `?wsdl`. */
const allowedMethods = 'GET, POST';

/**
 * `/Session`: the SOAP 1.1 Session service (`POST`) and its WSDL (`GET ?wsdl`). Every error of
 * a call becomes a Fault through the one error handler (HTTP 500, as SOAP 1.1 says); any other
 * method, or a GET that does not ask for the WSDL, is an HTTP 405 with `Allow`.
 */
export function sessionRouter(service: SessionService, wsdlLocation: string): Router {
  const router = answersIn('soap', Router());

  router.get('/', (req, res) => {
    if (!wantsWsdl(req)) throw methodNotAllowed(res);
    res.type('text/xml; charset=utf-8').send(sessionWsdl(wsdlLocation));
  });

  router.post('/', noStore, requireXml, readBody, async (req, res) => {
    if (!Buffer.isBuffer(req.body)) throw soapClientError('soap_malformed', 'The request has no SOAP envelope.');
    const envelope = parseEnvelope(decodeBody(req.body, req.get('content-type')));
    // A SOAP 1.1 envelope sent as SOAP 1.2's media type is a client mixing the two versions.
    if (/^application\/soap\+xml/i.test(req.get('content-type') ?? '')) throw versionMismatch(soapEnvelopeNs);
    const call = readCall(envelope);
    observed().soapOperation(call.method);
    checkSoapAction(req.get('soapaction'), call.method);
    const fields = await service.call(call, { address: clientAddress(req) });
    res.type('text/xml; charset=utf-8').send(buildResponse(call.method, fields));
  });

  router.all('/', (_req, res) => {
    throw methodNotAllowed(res);
  });
  return router;
}

// Compressed bodies are refused (415) so the 64 KiB limit bounds what is parsed. Raw bytes, not
// express.text: its decoder turns invalid UTF-8 into U+FFFD, and the XML would then be read as
// something other than what was sent.
const readBody = express.raw({ type: () => true, limit: maxEnvelopeBytes, inflate: false });

/**
 * The body as text in its declared charset (UTF-8 when none is named). Bytes that are not valid
 * in that charset get a Client fault rather than a silent replacement character.
 */
function decodeBody(body: Buffer, contentType: string | undefined): string {
  const charset = /;\s*charset\s*=\s*"?([^";\s]+)"?/i.exec(contentType ?? '')?.[1] ?? 'utf-8';
  let decoder: TextDecoder;
  try {
    decoder = new TextDecoder(charset, { fatal: true });
  } catch {
    throw new AppError('charset_unsupported', `The charset "${charset.slice(0, 40)}" is not supported; send UTF-8.`);
  }
  try {
    return decoder.decode(body);
  } catch {
    throw soapClientError('soap_bad_encoding', `The request is not valid ${decoder.encoding.toUpperCase()}.`);
  }
}

const requireXml: RequestHandler = (req, _res, next) => {
  next(
    xmlContentType.test(req.get('content-type') ?? '')
      ? undefined
      : soapClientError('soap_content_type', 'Content-Type must be text/xml.'),
  );
};

/**
 * SOAP 1.1's SOAPAction header states the intent of the call; when present and not empty it
 * must name the method in the Body (`ExternalLogin`, `urn:Statistica Server#ExternalLogin`, …),
 * so a gateway routing on the header and this service act on the same call.
 */
function checkSoapAction(header: string | undefined, method: string): void {
  if (header === undefined) return;
  const action = header
    .trim()
    .replace(/^"(.*)"$/, '$1')
    .trim();
  if (action === '') return;
  if (action.split(/[#/:]/).pop() !== method) {
    throw soapClientError('soap_action_mismatch', `SOAPAction does not name the method in the Body (${method}).`);
  }
}

function wantsWsdl(req: Request): boolean {
  const query = new URL(req.originalUrl, 'http://placeholder').searchParams;
  return query.has('wsdl') || query.has('WSDL');
}

/** 405 as plain HTTP (JSON or a page, by `Accept`): a browser or a crawler is no SOAP client. */
function methodNotAllowed(res: Response): AppError {
  delete res.locals.errorFormat;
  res.setHeader('Allow', allowedMethods);
  return new AppError('method_not_allowed', 'POST SOAP calls to /Session; GET /Session?wsdl describes them.', {
    details: { allowed: allowedMethods.split(', ') },
  });
}
