import type { OutgoingHttpHeaders } from 'node:http';
import {
  type Attributes,
  defaultTextMapSetter,
  ROOT_CONTEXT,
  type Span,
  SpanKind,
  SpanStatusCode,
  trace,
  type Tracer,
} from '@opentelemetry/api';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { BatchSpanProcessor, TracerProvider } from '@opentelemetry/sdk-trace';

// This module is imported only when an OTLP endpoint is configured (see create-observability.ts):
// OpenTelemetry is never loaded otherwise. Nothing is registered globally: the provider, the
// tracer and the propagator are Gatehouse's own, and parents are passed explicitly.

/**
 * Gatehouse's spans, exported over OTLP/HTTP (JSON) in batches. Attributes are chosen, never
 * copied from a request: a method, a status, a route family, an upstream name, an error code,
 * the request id. No path, query, header, token, cookie or code.
 */
export class Tracing {
  private readonly provider: TracerProvider;
  private readonly tracer: Tracer;
  private readonly propagator = new W3CTraceContextPropagator();

  /** `endpoint` is the OTLP base URL; spans go to `<endpoint>/v1/traces`. */
  constructor(endpoint: string) {
    this.provider = new TracerProvider({
      resource: resourceFromAttributes({ 'service.name': 'gatehouse' }),
      spanProcessors: [
        new BatchSpanProcessor({
          exporter: new OTLPTraceExporter({ url: `${endpoint.replace(/\/+$/, '')}/v1/traces` }),
        }),
      ],
    });
    this.tracer = this.provider.getTracer('gatehouse');
  }

  /** A request's span, the root of a new trace. */
  startRequest(method: string, requestId: string): Span {
    return this.tracer.startSpan(
      method,
      {
        kind: SpanKind.SERVER,
        attributes: { 'http.request.method': method, 'gatehouse.request_id': requestId },
      },
      ROOT_CONTEXT,
    );
  }

  /** Names the request's span after its route family, sets its outcome and ends it. */
  endRequest(span: Span, method: string, family: string, status: number, attributes: Attributes): void {
    span.updateName(`${method} ${family}`);
    span.setAttribute('http.response.status_code', status);
    span.setAttribute('gatehouse.route_family', family);
    span.setAttributes(attributes);
    if (status >= 500) span.setStatus({ code: SpanStatusCode.ERROR });
    span.end();
  }

  /** A span for a call Gatehouse makes, under `parent` (the request's span) when there is one. */
  startChild(parent: unknown, name: string, attributes: Attributes): Span {
    const context = parent === undefined ? ROOT_CONTEXT : trace.setSpan(ROOT_CONTEXT, parent as Span);
    return this.tracer.startSpan(name, { kind: SpanKind.CLIENT, attributes }, context);
  }

  /** Ends a child span, marking it failed when `error` names why. */
  endChild(span: Span, error?: string, attributes?: Attributes): void {
    if (attributes) span.setAttributes(attributes);
    if (error !== undefined) span.setStatus({ code: SpanStatusCode.ERROR, message: error });
    span.end();
  }

  /** Writes W3C `traceparent` (and `tracestate`) for `span` into outgoing headers. */
  inject(span: Span, headers: OutgoingHttpHeaders): void {
    this.propagator.inject(trace.setSpan(ROOT_CONTEXT, span), headers, defaultTextMapSetter);
  }

  flush(): Promise<void> {
    return this.provider.forceFlush();
  }

  close(): Promise<void> {
    return this.provider.shutdown();
  }
}
