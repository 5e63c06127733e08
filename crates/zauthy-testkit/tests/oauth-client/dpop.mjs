// An independent client for zauthy's DPoP support: openid-client (panva), a certified OpenID Connect
// relying-party library, as a public client. From the redirect a Rust test obtained through the hosted
// pages, it discovers the issuer, exchanges the code with a DPoP proof of a fresh key (following the
// server's use_dpop_nonce answer by itself), calls userinfo with the DPoP-bound token, refreshes, and
// calls userinfo again. Prints what it got as one JSON line.
//
// Usage: node dpop.mjs ISSUER CLIENT_ID CALLBACK_URL CODE_VERIFIER STATE NONCE
import * as client from 'openid-client';

const [issuer, clientId, callbackUrl, verifier, state, nonce] = process.argv.slice(2);
const config = await client.discovery(
  new URL(issuer),
  clientId,
  { token_endpoint_auth_method: 'none' },
  client.None(),
  { execute: [client.allowInsecureRequests] },
);
const keyPair = await client.randomDPoPKeyPair('ES256');
const DPoP = client.getDPoPHandle(config, keyPair);

const tokens = await client.authorizationCodeGrant(
  config,
  new URL(callbackUrl),
  { pkceCodeVerifier: verifier, expectedState: state, expectedNonce: nonce, idTokenExpected: true },
  undefined,
  { DPoP },
);
const sub = tokens.claims().sub;
const userinfo = await client.fetchUserInfo(config, tokens.access_token, sub, { DPoP });
const refreshed = await client.refreshTokenGrant(config, tokens.refresh_token, undefined, { DPoP });
const userinfoAfterRefresh = await client.fetchUserInfo(config, refreshed.access_token, sub, { DPoP });

console.log(JSON.stringify({
  token_type: tokens.token_type,
  access_token: tokens.access_token,
  sub,
  userinfo,
  refreshed_token_type: refreshed.token_type,
  refreshed_access_token: refreshed.access_token,
  refreshed_refresh_token: refreshed.refresh_token,
  userinfo_after_refresh: userinfoAfterRefresh,
}));
