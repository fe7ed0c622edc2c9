import cluster from 'node:cluster';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createApp, type AppDeps, type AppExtensions } from './app.ts';
import { type Clock, systemClock } from './clock.ts';
import { type Config, ConfigError, loadConfig, readEnvironment, withEmbeddedIdp } from './config.ts';
import { type CallerDeps, findCaller } from './auth/find-caller.ts';
import { connectorRouter } from './connector/connector-router.ts';
import { type DemoApis, demoUpstreams, startDemoApis } from './dev/demo-apis.ts';
import { demoLookupExamples } from './dev/demo-datasets.ts';
import { liveSocketPage } from './dev/live-socket-page.ts';
import { type DevIdp, type DevIdpOptions, startDevIdp } from './dev/dev-idp.ts';
import { doctorRouter } from './doctor/doctor-router.ts';
import { mountExternalLogin } from './external/mount-external-login.ts';
import { createGate, type GateStep } from './gate/gate.ts';
import { GrantStore } from './grants/grant-store.ts';
import { TokenRefresher } from './grants/token-refresher.ts';
import { RateLimits } from './http/rate-limits.ts';
import { requestListener, upgradeListener } from './http/request-listener.ts';
import { recordHeaders, securityHeaders } from './http/security-headers.ts';
import { trustProxy } from './http/trust-proxy.ts';
import { untrustedForwardingWarning } from './http/untrusted-forwarding.ts';
import { missingForwardedProtoWarning } from './http/missing-forwarded-proto.ts';
import { IdpAdapter } from './idp/idp-adapter.ts';
import { idpSettingsFor } from './idp/idp-settings.ts';
import { createLogger, type Logger } from './log.ts';
import { createObservability, observeStore } from './observability/create-observability.ts';
import { apiHandler } from './proxy/api-handler.ts';
import { websocketUpgrade } from './proxy/websocket-upgrade.ts';
import type { Upstream } from './upstream-registry.ts';
import { randomHandle } from './random.ts';
import { createStore } from './store/create-store.ts';
import { mountApiTokens } from './tokens/mount-api-tokens.ts';

/** How long SIGTERM waits for in-flight requests before it closes their connections. */
const shutdownGraceMs = 5000;

/** Options for {@link start}; tests use them to inject a clock, an environment and IdP tweaks. */
export interface StartOptions {
  /** Environment variables; by default the process environment over `.env`. */
  env?: Record<string, string | undefined>;
  clock?: Clock;
  logger?: Logger;
  /** Overrides for the embedded IdP (e.g. short token lifetimes in tests). */
  devIdp?: Partial<
    Pick<
      DevIdpOptions,
      | 'accessTokenTtlSeconds'
      | 'refreshTokenTtlSeconds'
      | 'extraClients'
      | 'statesRefreshExpiresIn'
      | 'introspection'
      | 'claimsFromUserInfo'
    >
  >;
  /** First retry delay of IdP discovery. */
  discoveryRetryMs?: number;
  /**
   * A server already listening, to serve on instead of binding `GATEHOUSE_PORT` (tests bind port
   * 0 first when they must know the URL before Gatehouse starts). Gatehouse closes it on stop.
   */
  server?: Server;
  /** The gate's steps (gate/gate.ts `gateSteps` by default); tests take one out to see what it guards. */
  gateSteps?: readonly GateStep[];
}

/** A running Gatehouse. */
export interface Gatehouse {
  /** Where it listens: the configured public URL; on port 0 without one, `http://localhost:<bound port>`. */
  url: string;
  config: Config;
  deps: AppDeps;
  server: Server;
  /** The embedded IdP, when it was started. */
  devIdp?: DevIdp;
  /** The demo upstream APIs, started with the embedded IdP. */
  demoApis?: DemoApis;
  /** The upstreams reachable at `/api/<name>/`. */
  upstreams: Upstream[];
  stop(): Promise<void>;
}

/**
 * Loads the configuration, starts the embedded IdP in development when no issuer is set,
 * connects the store, starts IdP discovery and listens. Throws {@link ConfigError} listing
 * every configuration problem.
 */
export async function start(options: StartOptions = {}): Promise<Gatehouse> {
  const env = options.env ?? readEnvironment();
  const configured = loadConfig(env);
  // On port 0 the port is known only once bound: bind first, then read the configuration again
  // with that port, so the public URL and the redirect URIs registered at the embedded IdP name it.
  const server = options.server ?? createServer();
  if (!server.listening && configured.port === 0) await listen(server, 0);
  const config = server.listening
    ? loadConfig({ ...env, GATEHOUSE_PORT: String((server.address() as AddressInfo).port) })
    : configured;
  try {
    return await startOn(server, config, options);
  } catch (error) {
    if (server.listening) await new Promise((resolve) => server.close(resolve)); // a start that fails leaves nothing listening
    throw error;
  }
}

function listen(server: Server, port: number): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const fail = (error: NodeJS.ErrnoException): void =>
      reject(
        error.code === 'EADDRINUSE'
          ? new Error(
              `Gatehouse cannot listen on port ${port}: another program holds it (a Gatehouse already running?). Stop that program, or set GATEHOUSE_PORT to a free port`,
              { cause: error },
            )
          : error,
      );
    server.once('error', fail);
    server.listen(port, () => {
      server.off('error', fail);
      resolve();
    });
  });
}

async function startOn(server: Server, configured: Config, options: StartOptions): Promise<Gatehouse> {
  const clock = options.clock ?? systemClock;
  const logger =
    options.logger ??
    createLogger(configured.logLevel, undefined, cluster.worker ? { worker: cluster.worker.id } : undefined);
  if (configured.session.secretGenerated) {
    logger.warn(
      'GATEHOUSE_SESSION_SECRET is not set: using a random one, so sessions and API tokens end when Gatehouse restarts',
    );
  }

  let devIdp: DevIdp | undefined;
  let config = configured;
  if (configured.oidc.issuer === undefined) {
    // Development: register Gatehouse at a fresh embedded IdP with a per-process secret.
    const clientSecret = config.oidc.clientSecret ?? randomHandle();
    devIdp = await startDevIdp({
      port: config.devIdpPort,
      client: {
        clientId: config.oidc.clientId,
        clientSecret,
        tokenEndpointAuthMethod:
          config.oidc.clientAuth === 'client_secret_post' ? 'client_secret_post' : 'client_secret_basic',
        redirectUris: [
          ...new Set([
            `${config.publicUrl}/auth/callback`,
            `${config.publicUrl}/external/callback`,
            ...config.soap.redirectUris,
          ]),
        ],
        postLogoutRedirectUris: [`${config.publicUrl}/`],
        backchannelLogoutUri: `${config.publicUrl}/auth/backchannel-logout`,
      },
      ...options.devIdp,
    });
    config = withEmbeddedIdp(configured, { issuer: devIdp.issuer, clientSecret });
  }

  const observability = await createObservability(config, logger).catch(async (error: unknown) => {
    await devIdp?.close(); // a start that fails leaves nothing listening
    throw error;
  });
  // With observability on, every operation of the store is timed and traced.
  const store = await observeStore(
    await createStore(config, clock, logger).catch(async (error: unknown) => {
      await Promise.all([devIdp?.close(), observability.close()]); // a start that fails leaves nothing listening
      throw error;
    }),
    observability,
  );
  const grants = new GrantStore(store, config.session.secret, clock);
  const idp = new IdpAdapter(
    // configured, or the embedded IdP's (withEmbeddedIdp)
    {
      ...idpSettingsFor(config, options.discoveryRetryMs ? { retryBaseMs: options.discoveryRetryMs } : {}),
      observability,
    },
    logger,
    clock,
  );
  await idp.start();

  const limits = new RateLimits(store, config.rateLimits, logger);
  const deps: AppDeps = { config, store, grants, idp, logger, clock, limits, observability };
  const extensions: AppExtensions = {};
  mountExternalLogin(extensions, deps);

  const demoApis = devIdp ? await startDemoApis({ issuer: devIdp.issuer, clock }) : undefined;
  const upstreams = config.proxy.upstreams ?? (demoApis ? demoUpstreams(demoApis) : []);
  const tokens = new TokenRefresher({
    grants,
    idp,
    store,
    clock,
    logger,
    skewMs: config.proxy.refreshSkewMs,
    // The lock outlives the longest refresh openid-client allows; waiters give up just after it.
    lockTtlMs: config.oidc.timeoutMs + 5000,
    lockWaitMs: config.oidc.timeoutMs + 1000,
    claimsRefreshMs: config.oidc.userInfoRefreshMs,
  });
  (extensions.routers ??= []).push([
    '/connector',
    connectorRouter({ upstreams, examples: demoApis ? demoLookupExamples : [] }),
  ]);
  extensions.routers.push(['/auth/doctor', doctorRouter(deps, { upstreams, tokens })]);
  (extensions.homeLinks ??= []).push({ href: '/connector', label: 'Link a Dataverse dataset to Renku' });
  if (demoApis) {
    extensions.routers.push(['/live', liveSocketPage()]);
    extensions.homeLinks.push({ href: '/live', label: 'A live socket to the demo API' });
  }
  mountApiTokens(
    extensions,
    deps,
    upstreams.map((upstream) => upstream.name),
    Object.fromEntries(upstreams.flatMap((upstream) => (upstream.example ? [[upstream.name, upstream.example]] : []))),
  );

  const trust = trustProxy(config.trustProxy);
  const callerDeps: CallerDeps = {
    grants,
    clock,
    limits: config.session,
    rateLimits: limits,
    ...(extensions.apiTokens ? { apiTokens: extensions.apiTokens } : {}),
  };
  const noteUntrustedForwarding = untrustedForwardingWarning(logger, trust);
  const noteMissingForwardedProto = missingForwardedProtoWarning(logger, trust, config.publicUrl);
  // One gate for every path: the pages (createApp) and the `/api` fast path pass the same steps.
  const gate = createGate(
    {
      config,
      logger,
      clock,
      observability,
      trust,
      securityHeaders: recordHeaders(securityHeaders(deps, extensions)),
      rateLimits: limits,
      identify: (request) => findCaller(request, callerDeps),
      noteForwarding: (req) => {
        noteUntrustedForwarding(req);
        noteMissingForwardedProto(req);
      },
    },
    options.gateSteps,
  );
  const app = createApp(deps, extensions, gate);
  const api = apiHandler(deps, { upstreams, tokens, gate });
  const websockets = websocketUpgrade(deps, {
    upstreams,
    tokens,
    gate,
    ...(extensions.apiTokens ? { apiTokens: extensions.apiTokens } : {}),
  });
  const listener = requestListener(app, api);
  server.on('request', listener);
  server.on('upgrade', upgradeListener(listener, websockets.handle));
  // With a listener here Node no longer answers `Expect: 100-continue` itself: the gate sends
  // `100 Continue` only once it admitted the request.
  server.on('checkContinue', listener);

  let stopping: Promise<void> | undefined;
  const stop = (): Promise<void> => {
    stopping ??= (async () => {
      // Upgraded sockets are no longer the server's connections: closed here (code 1001).
      websockets.close();
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeIdleConnections();
        // In-flight requests get a grace period, but a connection that never completes a
        // request (a browser's speculative preconnect sends none) must not hold shutdown open.
        setTimeout(() => server.closeAllConnections(), shutdownGraceMs).unref();
      });
      idp.stop();
      await store.close();
      await observability.close();
      await demoApis?.close();
      await devIdp?.close();
    })();
    return stopping;
  };
  if (!server.listening) {
    // A port held by another program: what started (embedded IdP, demo APIs, store) stops again.
    await listen(server, config.port).catch(async (error: unknown) => {
      await stop();
      throw error;
    });
  }

  return {
    url: config.publicUrl,
    config,
    deps,
    server,
    ...(devIdp ? { devIdp } : {}),
    ...(demoApis ? { demoApis } : {}),
    upstreams,
    stop,
  };
}
