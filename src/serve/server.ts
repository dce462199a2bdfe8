/** `createServer`: the request handler in a `node:http` server, with listen and graceful close. */
import { createServer as createHttpServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { createHandler, type ServeHandler, type ServeOptions } from "./handler.js";

/** A running (or ready to run) pacore server. */
export interface PacoreServer {
  readonly server: Server;
  readonly handler: ServeHandler;
  /**
   * Listens on `host` (default `127.0.0.1`: loopback only; `0.0.0.0` exposes it) and `port`
   * (default 8000; 0 picks a free one). Resolves with the address.
   */
  listen(port?: number, host?: string): Promise<AddressInfo>;
  /**
   * Graceful stop: no new connections, new chat requests get 503, requests in flight get
   * `graceMs` (default 10 s) to finish before they are aborted; resolves once the server is
   * closed. The backend is the caller's to close.
   */
  close(options?: { graceMs?: number }): Promise<void>;
}

/**
 * Creates an OpenAI-compatible pacore server.
 *
 * @example
 * ```ts
 * import { createServer, simulatedBackend } from "pacore";
 *
 * const server = createServer({ backend: simulatedBackend() });
 * const { port } = await server.listen(8000);
 * // new OpenAI({ baseURL: `http://127.0.0.1:${port}/v1`, apiKey: "none" })
 * //   .chat.completions.create({ model: "pacore-medium", messages: [{ role: "user", content: "What is 17*23+5?" }] })
 * process.once("SIGTERM", () => server.close({ graceMs: 30_000 }));
 * ```
 */
export function createServer(options: ServeOptions): PacoreServer {
  const handler = createHandler(options);
  const server = createHttpServer(handler);
  return {
    server,
    handler,
    listen(port = 8000, host = "127.0.0.1") {
      return new Promise((resolve, reject) => {
        server.once("error", reject);
        server.listen(port, host, () => {
          server.off("error", reject);
          resolve(server.address() as AddressInfo);
        });
      });
    },
    async close({ graceMs = 10_000 } = {}) {
      const closed = new Promise<void>((resolve) => {
        if (!server.listening) resolve();
        else server.close(() => resolve());
      });
      server.closeIdleConnections();
      await handler.close({ graceMs });
      // Responses are over: drop keep-alive connections so `close` does not wait for them.
      server.closeAllConnections();
      await closed;
    },
  };
}
