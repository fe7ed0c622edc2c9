import type { CheckResult, CheckStatus, DoctorReport } from './check-result.ts';

/** The mark each status is printed with. */
export const statusMarks: Record<CheckStatus, string> = { ok: '✓', warn: '⚠', fail: '✗' };

/**
 * The checklist as text: one line per check (mark, title, what was found), each ⚠ and ✗
 * followed by its fix, then a count and the exit status.
 */
export function renderChecklist(report: DoctorReport): string {
  const width = Math.min(32, Math.max(...report.checks.map((check) => check.title.length)));
  const lines = report.checks.flatMap((check) => {
    const line = `${statusMarks[check.status]} ${check.title.padEnd(width)}  ${check.detail}`;
    return check.fix && check.status !== 'ok' ? [line, `  ${' '.repeat(width)}  fix: ${check.fix}`] : [line];
  });
  const count = (status: CheckStatus): number => report.checks.filter((check) => check.status === status).length;
  lines.push(
    '',
    `${count('ok')} ✓, ${count('warn')} ⚠, ${count('fail')} ✗: ${report.status === 'fail' ? 'Gatehouse will not work as configured (exit 1)' : report.status === 'warn' ? 'Gatehouse will work; see the ⚠ lines' : 'all good'}`,
  );
  return `${lines.join('\n')}\n`;
}

/**
 * One line for the start banner: each fast check's mark and title (the time discovery took),
 * and, when any is not ✓, where to look next.
 */
export function renderSummaryLine(report: DoctorReport): string {
  const parts = report.checks.map((check: CheckResult) => {
    const time = check.id === 'discovery' && check.ms !== undefined ? ` ${check.ms} ms` : '';
    return `${statusMarks[check.status]} ${check.title}${time}`;
  });
  const next = report.status === 'ok' ? '' : ' (run npm run doctor)';
  return `doctor: ${parts.join(', ')}${next}`;
}
