/**
 * `npm start`: run the demo app. See README "Run the demo".
 */
import { startDemo } from './demo-app.js';

const demo = await startDemo({
  port: Number(process.env.PORT ?? 3000),
  providerPort: Number(process.env.DEV_PROVIDER_PORT ?? 3001),
});

console.log(`express-oidc-rp demo: open ${demo.url}`);
if (demo.provider) {
  console.log(`embedded development provider at ${demo.provider.issuer} (log in with any name, e.g. "alice", any password)`);
} else {
  console.log('using the provider configured by the OIDC_* environment');
}

const stop = () => {
  demo.close().finally(() => process.exit(0));
};
process.on('SIGINT', stop);
process.on('SIGTERM', stop);
