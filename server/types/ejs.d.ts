// ejs 7 ships no types; Gatehouse uses only renderFile, as Express's view engine.
declare module 'ejs' {
  export function renderFile(path: string, data: object, callback: (err: Error | null, html?: string) => void): void;
  export function renderFile(
    path: string,
    data: object,
    options: object,
    callback: (err: Error | null, html?: string) => void,
  ): void;
}
