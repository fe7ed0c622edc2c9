import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { describe, test } from 'node:test';
import { startDevIdp } from '../server/dev/dev-idp.ts';
import { CookieBrowser, signIn, startGatehouse } from './helpers/harness.ts';
import { boundServer } from './helpers/ports.ts';

describe('client authentication at a configured IdP', () => {
  for (const method of ['client_secret_post', 'private_key_jwt'] as const) {
    test(`signs in with ${method}`, async () => {
      const { server, url: publicUrl } = await boundServer();
      const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
      const secret = 'a-client-secret-of-decent-length';
      const idp = await startDevIdp({
        port: 0,
        client: {
          clientId: 'other',
          clientSecret: 'unused-secret',
          redirectUris: [`${publicUrl}/x`],
          postLogoutRedirectUris: [],
        },
        extraClients: [
          {
            client_id: 'gatehouse-under-test',
            ...(method === 'client_secret_post'
              ? { client_secret: secret }
              : {
                  jwks: {
                    keys: [{ ...publicKey.export({ format: 'jwk' }), kid: 'k1', use: 'sig', alg: 'ES256' } as never],
                  },
                }),
            token_endpoint_auth_method: method,
            redirect_uris: [`${publicUrl}/auth/callback`],
            post_logout_redirect_uris: [`${publicUrl}/`],
            grant_types: ['authorization_code', 'refresh_token'],
            response_types: ['code'],
          },
        ],
      });
      const gatehouse = await startGatehouse(
        {
          GATEHOUSE_PUBLIC_URL: publicUrl,
          GATEHOUSE_OIDC_ISSUER: idp.issuer,
          GATEHOUSE_OIDC_CLIENT_ID: 'gatehouse-under-test',
          GATEHOUSE_OIDC_CLIENT_AUTH: method,
          ...(method === 'client_secret_post'
            ? { GATEHOUSE_OIDC_CLIENT_SECRET: secret }
            : {
                GATEHOUSE_OIDC_PRIVATE_KEY: privateKey.export({ format: 'pem', type: 'pkcs8' }).toString(),
                GATEHOUSE_OIDC_PRIVATE_KEY_ID: 'k1',
              }),
        },
        { server },
      );
      try {
        assert.equal(gatehouse.gh.devIdp, undefined, 'no embedded IdP when an issuer is configured');
        const page = await signIn(gatehouse, new CookieBrowser());
        assert.match(page.body, /Alice Liddell/);
        assert.equal(idp.stats.tokenRequests.authorization_code, 1);
      } finally {
        await gatehouse.stop();
        await idp.close();
      }
    });
  }
});
