/** The call the snippets Gatehouse shows make: `/api/<upstream><path>`. */
export interface ExampleCall {
  upstream: string;
  /** `/api/<upstream><example>`, ready to append to the public URL. */
  path: string;
  /** False when no reachable upstream declares an `example`: the path is a stand-in to edit. */
  declared: boolean;
}

/**
 * The call a token's snippets show: the first upstream the token may reach that declares an
 * `example` path (one that answers 200 for a signed-in user), else the first it may reach with
 * a stand-in `/your-path`. `allowed` undefined or null means every upstream. Undefined when the
 * token reaches no declared upstream.
 */
export function exampleCall(
  upstreams: readonly { name: string; example?: string }[],
  allowed?: readonly string[] | null,
): ExampleCall | undefined {
  const reachable = allowed ? upstreams.filter((upstream) => allowed.includes(upstream.name)) : upstreams;
  const withExample = reachable.find((upstream) => upstream.example !== undefined);
  if (withExample)
    return { upstream: withExample.name, path: `/api/${withExample.name}${withExample.example}`, declared: true };
  const first = reachable[0];
  return first ? { upstream: first.name, path: `/api/${first.name}/your-path`, declared: false } : undefined;
}
