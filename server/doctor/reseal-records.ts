import type { SessionData } from 'express-session';
import type { Clock } from '../clock.ts';
import { externalCredentialsContext } from '../external/external-credentials.ts';
import type { Store } from '../store/store.ts';
import type { Grant, GrantStore } from '../grants/grant-store.ts';
import { TokenCipher, UnknownSecretError } from '../grants/token-cipher.ts';

/** How many records of one kind each secret opens. */
export interface SealingCount {
  /** Sealed with the newest secret. */
  current: number;
  /** Sealed with an older secret of the list: they stop working when it is removed. */
  older: number;
  /** Opened by no configured secret: they already do not work. */
  unknown: number;
  /** Of `older`, how many this run sealed again with the newest secret. */
  resealed: number;
}

/** What {@link resealRecords} found (and, with `write`, did). */
export interface ResealReport {
  /** Grants (browser sessions, API tokens, SOAP handles reach them): their sealed tokens. */
  grants: SealingCount;
  /** Browser sessions of the SOAP external sign-in: their sealed IdentityToken and sign-out URL. */
  externalSessions: SealingCount;
}

/** What {@link resealRecords} needs: the store, and a way to list its keys. */
export interface ResealDeps {
  store: Store;
  keysWithPrefix(prefix: string): AsyncIterable<string>;
  grants: GrantStore;
  /** GATEHOUSE_SESSION_SECRET, newest first. */
  secrets: readonly string[];
  clock: Clock;
  /** The lifetime a session record is written with (see session-middleware.ts). */
  sessionTtlMs(data: SessionData, now: number): number;
}

/**
 * Counts the stored records that depend on an older session secret, and with `write` seals
 * them again with the newest, so the older secret can be removed without ending anything.
 * Grants are re-sealed under their lock and only if unchanged (as on a read, see
 * {@link GrantStore.get}); a record that changed meanwhile is counted as older and left for
 * the next run or its next read. Browser cookies are not records: each browser's cookie is
 * re-signed on its next request, so waiting GATEHOUSE_SESSION_IDLE covers every live one.
 */
export async function resealRecords(deps: ResealDeps, options: { write: boolean }): Promise<ResealReport> {
  const report: ResealReport = { grants: emptyCount(), externalSessions: emptyCount() };
  const cipher = new TokenCipher(deps.secrets);

  for await (const key of deps.keysWithPrefix('grant:')) {
    const raw = await deps.store.get(key);
    if (raw === undefined) continue;
    const grant = JSON.parse(raw) as Grant;
    const sealing = deps.grants.sealingOf(grant);
    report.grants[sealing]++;
    if (sealing === 'older' && options.write && (await deps.grants.reseal(grant, raw)) !== grant)
      report.grants.resealed++;
  }

  for await (const key of deps.keysWithPrefix('session:')) {
    const raw = await deps.store.get(key);
    if (raw === undefined) continue;
    const data = JSON.parse(raw) as SessionData;
    const sealed = data.external?.sealedCredentials;
    if (!data.external || typeof sealed !== 'string') continue;
    let opened: { plaintext: string; current: boolean };
    try {
      opened = cipher.openVersioned(sealed, externalCredentialsContext);
    } catch (error) {
      if (!(error instanceof UnknownSecretError)) throw error;
      report.externalSessions.unknown++;
      continue;
    }
    if (opened.current) {
      report.externalSessions.current++;
      continue;
    }
    report.externalSessions.older++;
    if (!options.write) continue;
    const resealed: SessionData = {
      ...data,
      external: { ...data.external, sealedCredentials: cipher.seal(opened.plaintext, externalCredentialsContext) },
    };
    // Only while the session lives. A page request writing this record in the same moment may
    // lose its `lastSeenAt` to this write (sessions are not locked); nothing else changes.
    if (await deps.store.setIfPresent(key, JSON.stringify(resealed), deps.sessionTtlMs(data, deps.clock())))
      report.externalSessions.resealed++;
  }
  return report;
}

function emptyCount(): SealingCount {
  return { current: 0, older: 0, unknown: 0, resealed: 0 };
}
