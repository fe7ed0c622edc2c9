import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** A certificate authority and a server certificate it signed, as PEM files in one directory. */
export interface TestCertificates {
  /** The CA's certificate: what a client must trust. */
  caFile: string;
  /** The server's certificate (`localhost`, 127.0.0.1, ::1), then the CA's: a full chain. */
  chainFile: string;
  keyFile: string;
  /** A home directory whose NSS database (`.pki/nssdb`) trusts the CA: Chromium's on Linux. */
  browserHome: string;
}

/**
 * Makes a throwaway CA and a server certificate for `localhost` with the openssl CLI, and an NSS
 * database trusting that CA (certutil, Debian's libnss3-tools). Chromium launched with
 * `HOME=browserHome` then verifies the server's certificate for real (chain, name, dates)
 * instead of ignoring errors: a wrong certificate still fails.
 */
export function makeTestCertificates(dir: string): TestCertificates {
  mkdirSync(dir, { recursive: true });
  const file = (name: string) => join(dir, name);
  const openssl = (...args: string[]) => execFileSync('openssl', args, { stdio: ['ignore', 'ignore', 'pipe'] });
  const ecKey = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes'];
  openssl(
    'req',
    '-x509',
    ...ecKey,
    '-keyout',
    file('ca.key'),
    '-out',
    file('ca.pem'),
    '-days',
    '2',
    '-subj',
    '/CN=Gatehouse test CA',
    '-addext',
    'basicConstraints=critical,CA:TRUE',
    '-addext',
    'keyUsage=critical,keyCertSign,cRLSign',
  );
  openssl('req', ...ecKey, '-keyout', file('server.key'), '-out', file('server.csr'), '-subj', '/CN=localhost');
  writeFileSync(
    file('server.ext'),
    'subjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1\nextendedKeyUsage=serverAuth\nbasicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\n',
  );
  openssl(
    'x509',
    '-req',
    '-in',
    file('server.csr'),
    '-CA',
    file('ca.pem'),
    '-CAkey',
    file('ca.key'),
    '-CAcreateserial',
    '-days',
    '2',
    '-out',
    file('server.pem'),
    '-extfile',
    file('server.ext'),
  );
  writeFileSync(file('chain.pem'), Buffer.concat([readFileSync(file('server.pem')), readFileSync(file('ca.pem'))]));

  const browserHome = file('browser-home');
  const nssdb = join(browserHome, '.pki', 'nssdb');
  mkdirSync(nssdb, { recursive: true });
  execFileSync('certutil', ['-N', '-d', `sql:${nssdb}`, '--empty-password']);
  // "C,,": a CA trusted to issue server certificates, and nothing else.
  execFileSync('certutil', ['-A', '-d', `sql:${nssdb}`, '-n', 'gatehouse-test-ca', '-t', 'C,,', '-i', file('ca.pem')]);
  return { caFile: file('ca.pem'), chainFile: file('chain.pem'), keyFile: file('server.key'), browserHome };
}
