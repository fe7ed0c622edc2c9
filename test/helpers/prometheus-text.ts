/**
 * Reads a Prometheus text exposition into `name{label="value",…}` → value, with the labels as
 * written by prom-client (in declaration order), so tests look samples up by their exact line.
 */
export function samples(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const at = line.lastIndexOf(' ');
    out.set(line.slice(0, at), Number(line.slice(at + 1)));
  }
  return out;
}

/** Scrapes a `/metrics` URL; fails unless it answers 200 in the Prometheus text format. */
export async function scrape(url: string): Promise<Map<string, number>> {
  const response = await fetch(url);
  if (response.status !== 200 || !/^text\/plain/.test(response.headers.get('content-type') ?? '')) {
    throw new Error(`scrape of ${url} answered ${response.status} ${response.headers.get('content-type')}`);
  }
  return samples(await response.text());
}
