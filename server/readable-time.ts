/**
 * A timestamp as people read it, in UTC (`2027-01-06 14:05 UTC`): the text of a page's
 * `<time>` elements, which `public/js/local-times.js` then shows in the reader's own zone.
 */
export function readableTime(iso: string): string {
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return iso;
  return `${date.toISOString().slice(0, 16).replace('T', ' ')} UTC`;
}
