/**
 * `npm start`: run the demo app (examples/demo-app.ts). See README "Two commands".
 *
 *   PORT (3000), DEV_PROVIDER_PORT (3001)   where the app and its embedded provider listen
 *   REDIS_URL                               sessions and token sets in Redis (several processes)
 *   DEMO_PEER_URLS                          other demo processes' URLs to register at the embedded provider
 *   DEMO_PROVIDER_ISSUER                    use another demo process's embedded provider
 *   OIDC_OP_ISSUER, OIDC_RP_CLIENT_ID, ...  a real provider instead (see .env.example)
 */
import { DEMO_CLIENT, peerUrls, redactUrl, startDemo } from './demo-app.js';

// A start-up failure (a port in use, Redis not there, a bad setting) is one line, not a stack.
const demo = await startDemo({
  port: Number(process.env.PORT ?? 3000),
  providerPort: Number(process.env.DEV_PROVIDER_PORT ?? 3001),
}).catch((err: unknown) => {
  console.error(`demo: could not start: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
});

console.log(`express-oidc-rp demo: open ${demo.url}`);
if (demo.provider) {
  console.log(`embedded development provider at ${demo.provider.issuer}: log in as "alice" with any password (it is not checked)`);
  console.log(`  client id ${DEMO_CLIENT.clientId}, client secret ${DEMO_CLIENT.clientSecret}`);
} else if (process.env.DEMO_PROVIDER_ISSUER) {
  console.log(`using the development provider of another demo process at ${demo.issuer}`);
} else {
  console.log(`using the provider configured by the OIDC_* environment (${demo.issuer})`);
}
if (process.env.REDIS_URL) {
  console.log(`sessions and token sets in Redis at ${redactUrl(process.env.REDIS_URL)}`);
  // The exact command for each registered peer, so the second process is one copy-paste away.
  const issuer = demo.provider?.issuer;
  for (const peer of issuer ? peerUrls(process.env) : []) {
    const port = new URL(peer).port;
    console.log(`  second process: REDIS_URL=${redactUrl(process.env.REDIS_URL)} PORT=${port} DEMO_PROVIDER_ISSUER=${issuer} npm start`);
  }
}

const stop = () => {
  demo.close().finally(() => process.exit(0));
};
process.on('SIGINT', stop);
process.on('SIGTERM', stop);
