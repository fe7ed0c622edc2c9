// Self time of a CPU profile (`node --cpu-prof`, e.g. `npm run bench -- --profile`) by file, or by
// native function where there is no file, as shares of all samples: the table in
// docs/performance.md.
//
//   npx tsx bench/profile-summary.ts .tmp/profile/CPU.*.cpuprofile [--top=15] [--skip-seconds=3]
import { readFileSync } from 'node:fs';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string };
}
interface Profile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

const args = process.argv.slice(2);
const files = args.filter((arg) => !arg.startsWith('--'));
const option = (name: string, fallback: number): number =>
  Number(args.find((arg) => arg.startsWith(`--${name}=`))?.split('=')[1] ?? fallback);
const top = option('top', 15);
const skipMs = option('skip-seconds', 3) * 1000;

/** Where a sample's time goes: the project file, the node: module, the package, or the native function. */
function bucketOf(frame: ProfileNode['callFrame']): string {
  if (!frame.url) return `(${frame.functionName || 'anonymous'})`;
  const url = frame.url.replace(/^file:\/\//, '');
  const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (pkg) return pkg[1]!;
  const project = /\/(server|bench)\/(.+)$/.exec(url);
  if (project) return `${project[1]}/${project[2]}`;
  return url;
}

const totals = new Map<string, number>();
let all = 0;
for (const file of files) {
  const profile = JSON.parse(readFileSync(file, 'utf8')) as Profile;
  const byId = new Map(profile.nodes.map((node) => [node.id, node]));
  let at = 0;
  profile.samples.forEach((id, i) => {
    const delta = profile.timeDeltas[i] ?? 0;
    at += delta / 1000;
    if (at < skipMs) return; // start-up and sign-ins
    const bucket = bucketOf(byId.get(id)!.callFrame);
    totals.set(bucket, (totals.get(bucket) ?? 0) + delta);
    all += delta;
  });
}
const rows = [...totals].sort((a, b) => b[1] - a[1]).slice(0, top);
for (const [bucket, time] of rows)
  process.stdout.write(`${((time / all) * 100).toFixed(1).padStart(5)} %  ${bucket}\n`);
process.stdout.write(`(${(all / 1e6).toFixed(1)} s of samples after the first ${skipMs / 1000} s)\n`);
