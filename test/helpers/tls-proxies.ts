import { type ChildProcess, spawn } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { userInfo } from 'node:os';
import { join } from 'node:path';
import { bindSparePort } from './ports.ts';
import type { TestCertificates } from './test-certificates.ts';

/** The configurations of docs/deploy.md that a test runs. */
export type ProxyKind = 'nginx' | 'apache';

const deployDoc = new URL('../../docs/deploy.md', import.meta.url);

/**
 * The text of the fenced block that follows `<!-- tested: <kind>` in docs/deploy.md: the
 * configuration an operator copies is the one the test runs.
 */
export function documentedConfig(kind: ProxyKind, doc = readFileSync(deployDoc, 'utf8')): string {
  const block = new RegExp(`<!-- tested: ${kind}\\b[^\\n]*-->\\n\`\`\`\\w*\\n([\\s\\S]*?)\\n\`\`\`\\n`).exec(doc);
  if (!block) throw new Error(`docs/deploy.md has no fenced block after "<!-- tested: ${kind} … -->"`);
  return block[1]!;
}

/**
 * Replaces each example value of the documented configuration (its host name, ports, certificate
 * paths, Gatehouse's address) with the test's. Every one must be there: when the doc changes
 * them, this fails instead of running a configuration that is no longer the documented one.
 */
export function fillIn(config: string, replacements: ReadonlyArray<readonly [example: string, value: string]>): string {
  let out = config;
  for (const [example, value] of replacements) {
    if (!out.includes(example)) throw new Error(`the documented configuration no longer contains "${example}"`);
    out = out.split(example).join(value);
  }
  return out;
}

/** A reverse proxy the test started, in front of Gatehouse. */
export interface RunningProxy {
  kind: ProxyKind;
  /** Where browsers reach it: `https://localhost:<port>`. */
  publicUrl: string;
  httpsPort: number;
  /** Its plain-http port, which only redirects. */
  httpPort: number;
  /** The configuration it runs (the documented one, filled in). */
  site: string;
  /** Its error log so far (for a failing test's message). */
  errorLog(): string;
  stop(): Promise<void>;
}

/** What a proxy needs to start: where Gatehouse listens, the certificate, a directory of its own. */
export interface ProxyOptions {
  gatehousePort: number;
  certificates: TestCertificates;
  dir: string;
  /** Changes the documented site before it runs (to show what a wrong configuration does). */
  edit?: (site: string) => string;
  /** Ports to listen on again (a restart); by default spare ones. */
  ports?: { httpsPort: number; httpPort: number };
}

/**
 * Starts Debian's nginx or apache2 in the foreground with the documented site, listening on
 * [::1] only: the browser then connects from ::1 and the proxy to Gatehouse from 127.0.0.1, so a
 * test can tell the browser's address from the proxy's. Runtime files stay in `dir`.
 */
export async function startTlsProxy(kind: ProxyKind, options: ProxyOptions): Promise<RunningProxy> {
  mkdirSync(options.dir, { recursive: true });
  // The workers run as www-data when the test runs as root; they must reach their temp files.
  chmodSync(options.dir, 0o755);
  const bind = (httpsPort: number) =>
    (kind === 'nginx' ? startNginx : startApache)(options, { httpsPort, httpPort: httpsPort + 1 });
  if (options.ports) return bind(options.ports.httpsPort);
  return (await bindSparePort(bind)).bound;
}

/** Replacements shared by both sites: the host name, the certificate, Gatehouse's address. */
function commonReplacements(options: ProxyOptions): Array<[string, string]> {
  return [
    ['/etc/letsencrypt/live/gatehouse.example.org/fullchain.pem', options.certificates.chainFile],
    ['/etc/letsencrypt/live/gatehouse.example.org/privkey.pem', options.certificates.keyFile],
    ['gatehouse.example.org', 'localhost'],
    ['http://127.0.0.1:3000', `http://127.0.0.1:${options.gatehousePort}`],
  ];
}

/** Root may not serve as root (Apache refuses to); Debian's packages run their workers as www-data. */
const workerUser = userInfo().uid === 0 ? 'www-data' : undefined;

function startNginx(options: ProxyOptions, ports: { httpsPort: number; httpPort: number }): Promise<RunningProxy> {
  const { dir } = options;
  const documented = fillIn(documentedConfig('nginx'), [
    ['listen 80;', `listen [::1]:${ports.httpPort};`],
    ['listen [::]:80;', ''],
    ['listen 443 ssl;', `listen [::1]:${ports.httpsPort} ssl;`],
    ['listen [::]:443 ssl;', ''],
    ...commonReplacements(options),
  ]);
  const site = options.edit ? options.edit(documented) : documented;
  writeFileSync(join(dir, 'gatehouse.site'), site);
  // What Debian's /etc/nginx/nginx.conf gives a site, minus what the test does not use, with
  // every runtime file in `dir` instead of /var and /run.
  writeFileSync(
    join(dir, 'nginx.conf'),
    `${workerUser ? `user ${workerUser};\n` : ''}daemon off;
worker_processes 1;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log warn;
events { worker_connections 256; }
http {
    access_log ${dir}/access.log;
    client_body_temp_path ${dir}/client_body;
    proxy_temp_path ${dir}/proxy;
    fastcgi_temp_path ${dir}/fastcgi;
    uwsgi_temp_path ${dir}/uwsgi;
    scgi_temp_path ${dir}/scgi;
    include ${dir}/gatehouse.site;
}
`,
  );
  return run('nginx', ['-p', dir, '-c', join(dir, 'nginx.conf'), '-e', join(dir, 'error.log')], {
    kind: 'nginx',
    site,
    ports,
    errorLogFile: join(dir, 'error.log'),
  });
}

function startApache(options: ProxyOptions, ports: { httpsPort: number; httpPort: number }): Promise<RunningProxy> {
  const { dir } = options;
  const documented = fillIn(documentedConfig('apache'), [
    ['<VirtualHost *:80>', `<VirtualHost [::1]:${ports.httpPort}>`],
    ['<VirtualHost *:443>', `<VirtualHost [::1]:${ports.httpsPort}>`],
    ...commonReplacements(options),
  ]);
  const site = options.edit ? options.edit(documented) : documented;
  writeFileSync(join(dir, 'gatehouse.conf'), site);
  // What Debian's apache2.conf, ports.conf and `a2enmod ssl proxy proxy_http headers` give a
  // site (alias is on by default, for Redirect), with every runtime file in `dir`.
  writeFileSync(
    join(dir, 'httpd.conf'),
    `ServerRoot /usr/lib/apache2
ServerName localhost
PidFile ${dir}/httpd.pid
DefaultRuntimeDir ${dir}
Mutex file:${dir} default
ErrorLog ${dir}/error.log
LogLevel warn
${workerUser ? `User ${workerUser}\nGroup ${workerUser}\n` : ''}
LoadModule mpm_event_module modules/mod_mpm_event.so
LoadModule authz_core_module modules/mod_authz_core.so
LoadModule alias_module modules/mod_alias.so
LoadModule headers_module modules/mod_headers.so
LoadModule proxy_module modules/mod_proxy.so
LoadModule proxy_http_module modules/mod_proxy_http.so
LoadModule socache_shmcb_module modules/mod_socache_shmcb.so
LoadModule ssl_module modules/mod_ssl.so
SSLSessionCache shmcb:${dir}/ssl_scache(512000)

Listen [::1]:${ports.httpPort}
Listen [::1]:${ports.httpsPort} https
Include ${dir}/gatehouse.conf
`,
  );
  return run('apache2', ['-f', join(dir, 'httpd.conf'), '-DFOREGROUND'], {
    kind: 'apache',
    site,
    ports,
    errorLogFile: join(dir, 'error.log'),
  });
}

/**
 * Spawns the proxy and resolves once its https port accepts connections. A port already taken
 * rejects with code EADDRINUSE, so {@link bindSparePort} tries another.
 */
async function run(
  command: string,
  args: string[],
  about: { kind: ProxyKind; site: string; ports: { httpsPort: number; httpPort: number }; errorLogFile: string },
): Promise<RunningProxy> {
  // Debian installs both in /usr/sbin, which a non-root PATH may lack.
  const executable = existsSync(`/usr/sbin/${command}`) ? `/usr/sbin/${command}` : command;
  const child = spawn(executable, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout!.on('data', (chunk) => (output += chunk));
  child.stderr!.on('data', (chunk) => (output += chunk));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  child.once('error', (error) => (output += String(error)));
  const errorLog = () => {
    try {
      return readFileSync(about.errorLogFile, 'utf8');
    } catch {
      return '';
    }
  };
  const stop = () => stopChild(child, exited);

  for (let attempt = 0; ; attempt++) {
    if (child.exitCode !== null || child.signalCode !== null) {
      const log = `${output}\n${errorLog()}`;
      const error = new Error(`${command} did not start:\n${log}`) as NodeJS.ErrnoException;
      if (/Address already in use/.test(log)) error.code = 'EADDRINUSE';
      throw error;
    }
    if (await accepts(about.ports.httpsPort)) break;
    if (attempt > 400) {
      await stop();
      throw new Error(
        `${command} did not listen on [::1]:${about.ports.httpsPort} within 20 s:\n${output}\n${errorLog()}`,
      );
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return {
    kind: about.kind,
    publicUrl: `https://localhost:${about.ports.httpsPort}`,
    ...about.ports,
    site: about.site,
    errorLog,
    stop,
  };
}

function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: '::1', port });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

/** SIGTERM (both stop at once on it), and SIGKILL if the process is still there after 10 s. */
async function stopChild(child: ChildProcess, exited: Promise<number | null>): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  child.kill('SIGTERM');
  const killer = setTimeout(() => child.kill('SIGKILL'), 10_000);
  await exited;
  clearTimeout(killer);
}
