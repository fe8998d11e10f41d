/**
 * A TCP forwarder on 127.0.0.1 that can be stopped (the provider becomes unreachable: connection
 * refused) and started again on the same port, for "provider down" tests.
 */
import net, { type AddressInfo } from 'node:net';

export interface TcpForwarder {
  url: string;
  stop(): Promise<void>;
  start(): Promise<void>;
}

/** A TCP forwarder that can be stopped (connection refused) and restarted on the same port. */
export async function startTcpForwarder(targetUrl: string): Promise<TcpForwarder> {
  const target = new URL(targetUrl);
  const sockets = new Set<net.Socket>();
  let server: net.Server | undefined;
  let port = 0;
  const track = (s: net.Socket) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
    s.on('error', () => s.destroy());
  };
  const start = () =>
    new Promise<void>((resolve, reject) => {
      const srv = net.createServer((client) => {
        const upstream = net.connect(Number(target.port), target.hostname);
        track(client);
        track(upstream);
        client.on('close', () => upstream.destroy());
        upstream.on('close', () => client.destroy());
        client.pipe(upstream).pipe(client);
      });
      srv.once('error', reject);
      srv.listen(port, '127.0.0.1', () => {
        srv.off('error', reject);
        port = (srv.address() as AddressInfo).port;
        server = srv;
        resolve();
      });
    });
  await start();
  return {
    url: `http://127.0.0.1:${port}`,
    start,
    stop: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        if (!server) return resolve();
        server.close(() => resolve());
        server = undefined;
      }),
  };
}
