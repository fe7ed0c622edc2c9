// The connector keeps its form in the page's own URL: `?q=<what was looked up>&project=<id>`
// and, while an import is followed, `&job=<id>`. Signing in again returns to that URL
// (Gatehouse's returnTo), so the form comes back filled and a running import is followed on;
// a reload or a bookmark does the same. No storage in the browser is needed.

const jobIdPattern = /^[A-Za-z0-9_-]{1,100}$/;
const projectIdPattern = /^(?!\.+$)[^\s/?#\\]{1,100}$/;

/** The form state in a query string (`location.search`); unusable values are dropped. */
export function readFormState(search) {
  const params = new URLSearchParams(search);
  const q = (params.get('q') ?? '').trim().slice(0, 500);
  const project = (params.get('project') ?? '').trim();
  const job = (params.get('job') ?? '').trim();
  return {
    q,
    project: projectIdPattern.test(project) ? project : '',
    job: jobIdPattern.test(job) ? job : '',
  };
}

/** The query string (`?…`, or '' when empty) that {@link readFormState} reads back. */
export function formStateSearch({ q = '', project = '', job = '' }) {
  const params = new URLSearchParams();
  if (q.trim()) params.set('q', q.trim());
  if (project) params.set('project', project);
  if (job) params.set('job', job);
  const search = params.toString();
  return search ? `?${search}` : '';
}
