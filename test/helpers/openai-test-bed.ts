/**
 * Setup shared by the OpenAI backend tests: fake servers and backends made in a test file are
 * closed after it, and one call starts a server with a backend pointed at it.
 */
import { after } from "node:test";
import { type OpenAIBackendOptionsInput, openaiBackend } from "../../src/backends/openai/index.js";
import {
  type FakeOpenAIServer,
  type FakeOpenAIServerOptions,
  startFakeOpenAIServer,
} from "./fake-openai-server.js";

export interface OpenAITestBed {
  /** Servers closed after the file's tests. */
  readonly servers: FakeOpenAIServer[];
  /** Cleanups (backend closes) run after the file's tests, before the servers close. */
  readonly closers: (() => Promise<void>)[];
  /** Starts a fake server and a backend on it; both are closed after the file's tests. */
  setup(
    serverOptions: FakeOpenAIServerOptions,
    backendOptions?: Partial<OpenAIBackendOptionsInput>,
  ): Promise<{ server: FakeOpenAIServer; backend: ReturnType<typeof openaiBackend> }>;
}

/** Call once at the top of a test file. */
export function openaiTestBed(): OpenAITestBed {
  const servers: FakeOpenAIServer[] = [];
  const closers: (() => Promise<void>)[] = [];
  after(async () => {
    await Promise.all(closers.map((close) => close()));
    await Promise.all(servers.map((server) => server.close()));
  });
  return {
    servers,
    closers,
    async setup(serverOptions, backendOptions = {}) {
      const server = await startFakeOpenAIServer(serverOptions);
      servers.push(server);
      const backend = openaiBackend({
        baseUrls: [server.baseUrl],
        model: server.model,
        ...backendOptions,
      });
      closers.push(() => backend.close());
      return { server, backend };
    },
  };
}
