// A real OpenID Provider for tests: the certified `oidc-provider` package, on loopback.
// Environment: PORT, CLIENTS (JSON client metadata list), ACCOUNTS_FILE (JSON: account id ->
// claims, read at every sign-in so tests can change groups), KEYS_FILE (JWKS with private
// keys; made with one key KEY_ID when missing), ID_TOKEN_TTL and ACCESS_TOKEN_TTL (seconds).
import Provider from 'oidc-provider';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { generateKeyPairSync } from 'node:crypto';

const port = Number(process.env.PORT);
const issuer = `http://127.0.0.1:${port}`;
const accounts = () => JSON.parse(readFileSync(process.env.ACCOUNTS_FILE, 'utf8'));
// A fresh RSA signing key (id KEY_ID) when the keys file does not exist yet.
if (!existsSync(process.env.KEYS_FILE)) {
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const jwk = { ...privateKey.export({ format: 'jwk' }), kid: process.env.KEY_ID, use: 'sig', alg: 'RS256' };
  writeFileSync(process.env.KEYS_FILE, JSON.stringify({ keys: [jwk] }));
}
const keys = JSON.parse(readFileSync(process.env.KEYS_FILE, 'utf8')).keys;

const provider = new Provider(issuer, {
  clients: JSON.parse(process.env.CLIENTS),
  jwks: { keys },
  async findAccount(ctx, id) {
    const account = accounts()[id];
    if (!account) return undefined;
    return { accountId: id, async claims() { return { sub: id, ...account }; } };
  },
  claims: {
    openid: ['sub'],
    email: ['email', 'email_verified'],
    profile: ['name'],
    groups: ['groups'],
  },
  scopes: ['openid', 'offline_access', 'api'],
  conformIdTokenClaims: false,
  features: {
    devInteractions: { enabled: true },
    rpInitiatedLogout: { enabled: true },
    clientCredentials: { enabled: true },
    resourceIndicators: {
      enabled: true,
      defaultResource: () => 'https://api.tollgate.test',
      getResourceServerInfo: () => ({
        scope: 'api',
        audience: 'https://api.tollgate.test',
        accessTokenFormat: 'jwt',
        accessTokenTTL: Number(process.env.ACCESS_TOKEN_TTL || 3600),
        jwt: { sign: { alg: 'RS256' } },
      }),
    },
  },
  pkce: { required: () => false, methods: ['S256'] },
  ttl: { IdToken: Number(process.env.ID_TOKEN_TTL || 3600) },
  cookies: { keys: ['tollgate-test-cookie-key'] },
});
provider.proxy = false;
provider.listen(port, '127.0.0.1', () => console.log(`listening ${issuer}`));
