/** ✓, ⚠ or ✗: `fail` makes `npm run doctor` exit 1. */
export type CheckStatus = 'ok' | 'warn' | 'fail';

/** One line of doctor's checklist. Never holds a token or a secret. */
export interface CheckResult {
  /** Stable identifier scripts can match (`discovery`, `client_credentials`, `upstream:renku`). */
  id: string;
  title: string;
  status: CheckStatus;
  /** What was found, in one or two sentences. */
  detail: string;
  /** For ⚠ and ✗: what to change, naming the variable or the IdP setting (in Keycloak's words where they apply). */
  fix?: string;
  /** How long the check took, when it talked to something. */
  ms?: number;
}

/** The whole checklist, as `--json` prints it. */
export interface DoctorReport {
  /** The worst status of any check. */
  status: CheckStatus;
  checks: CheckResult[];
}

const rank: Record<CheckStatus, number> = { ok: 0, warn: 1, fail: 2 };

/** The worst status among `checks` (`ok` for none). */
export function worstStatus(checks: readonly CheckResult[]): CheckStatus {
  return checks.reduce<CheckStatus>((worst, check) => (rank[check.status] > rank[worst] ? check.status : worst), 'ok');
}

/** A report of `checks`. */
export function doctorReport(checks: CheckResult[]): DoctorReport {
  return { status: worstStatus(checks), checks };
}

/** Milliseconds since `startedAt` (from `performance.now()`), rounded. */
export function elapsedMs(startedAt: number): number {
  return Math.round(performance.now() - startedAt);
}

/** Why a `fetch` failed, in a few words: the network code (`ECONNREFUSED`), a TLS problem, or a timeout. */
export function fetchFailure(error: unknown): string {
  if (error instanceof DOMException && (error.name === 'TimeoutError' || error.name === 'AbortError'))
    return 'no answer in time';
  const cause = (error as { cause?: { code?: unknown; message?: unknown } }).cause;
  const code = typeof cause?.code === 'string' ? cause.code : undefined;
  if (code && tlsCodes.test(code)) return `TLS certificate not accepted (${code})`;
  if (code) return code;
  return typeof cause?.message === 'string' ? cause.message : error instanceof Error ? error.message : String(error);
}

const tlsCodes = /CERT|SELF_SIGNED|UNABLE_TO_VERIFY|ERR_TLS|SSL/;
