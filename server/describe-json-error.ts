/**
 * Why `JSON.parse(text)` failed, with the place as a line and column a person can go to
 * (`Unexpected number at line 3, column 7`) instead of V8's character position. V8 names the
 * position (`… in JSON at position 18`, and on newer Node also `(line 3 column 7)`); an input
 * that ends too early has none, so the place is its end.
 */
export function describeJsonError(text: string, error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  const position = /at position (\d+)/.exec(message);
  const offset = position ? Math.min(Number(position[1]), text.length) : text.length;
  const reason = message
    .replace(/\s*\(line \d+ column \d+\)/, '')
    .replace(/\s*in JSON at position \d+/, '')
    .replace(/^Unexpected end of JSON input$/, 'Unexpected end of input');
  const before = text.slice(0, offset);
  const line = before.split('\n').length;
  const column = offset - (before.lastIndexOf('\n') + 1) + 1;
  return `${reason} at line ${line}, column ${column}`;
}
