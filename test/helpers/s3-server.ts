/**
 * A real S3-protocol server for tests: s3rver on 127.0.0.1, on a free port, storing in a temp directory, with one
 * bucket. Every request it receives is logged (method and path), so tests can count uploads. `startProxy` puts a
 * tiny HTTP proxy in front of it that can fail chosen requests (a server answering 500) or enforce S3's conditional
 * writes (`If-Match` / `If-None-Match` on PUT), which s3rver itself ignores.
 */
import { createRequire } from 'node:module';
import { existsSync, readdirSync } from 'node:fs';
import { createServer, request as httpRequest, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { tempDir } from './fixtures.js';

interface S3rverInstance {
  run(): Promise<AddressInfo>;
  close(): Promise<void>;
  httpServer?: Server;
}
type S3rverClass = new (options: Record<string, unknown>) => S3rverInstance;

const S3rver = createRequire(import.meta.url)('s3rver') as S3rverClass;

/** The credentials s3rver accepts, and a region: the environment of a child process that talks to it. */
export const S3_ENV: Readonly<Record<string, string>> = {
  AWS_ACCESS_KEY_ID: 'S3RVER',
  AWS_SECRET_ACCESS_KEY: 'S3RVER',
  AWS_REGION: 'us-east-1',
  AWS_EC2_METADATA_DISABLED: 'true',
  AWS_CONFIG_FILE: '/nonexistent/aws-config',
  AWS_SHARED_CREDENTIALS_FILE: '/nonexistent/aws-credentials',
};

/** Sets {@link S3_ENV} in this process (for stores used in-process). */
export function useS3Env(): void {
  for (const [k, v] of Object.entries(S3_ENV)) process.env[k] = v;
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';
  delete process.env.AWS_PROFILE;
  delete process.env.AWS_SESSION_TOKEN;
}

export interface S3Server {
  /** `http://127.0.0.1:<port>` */
  readonly endpoint: string;
  readonly bucket: string;
  /** s3rver's storage directory. */
  readonly dir: string;
  /** Every request received so far: `PUT /bucket/key`. */
  readonly requests: string[];
  /** The path on disk of an object's bytes (s3rver's file store). */
  objectFile(key: string): string;
  /** The keys under a prefix, read from s3rver's directory. */
  keys(prefix?: string): string[];
  stop(): Promise<void>;
}

/** Starts s3rver with one bucket (default `test-bucket`). */
export async function startS3Server(bucket = 'test-bucket'): Promise<S3Server> {
  const { dir, cleanup } = tempDir('dh-s3rver-');
  const server = new S3rver({
    address: '127.0.0.1',
    port: 0,
    silent: true,
    directory: dir,
    configureBuckets: [{ name: bucket }],
    vhostBuckets: false,
  });
  const address = await server.run();
  const requests: string[] = [];
  server.httpServer?.on('request', (req: IncomingMessage) => {
    requests.push(`${req.method ?? '?'} ${req.url ?? ''}`);
  });
  const bucketDir = join(dir, bucket);
  return {
    endpoint: `http://127.0.0.1:${String(address.port)}`,
    bucket,
    dir,
    requests,
    objectFile: (key) => join(bucketDir, `${key}._S3rver_object`),
    keys: (prefix = '') => listKeys(bucketDir, '').filter((k) => k.startsWith(prefix)),
    stop: async () => {
      await server.close();
      cleanup();
    },
  };
}

function listKeys(dir: string, under: string): string[] {
  if (!existsSync(dir)) return [];
  const out: string[] = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    if (entry.isDirectory()) out.push(...listKeys(join(dir, entry.name), `${under}${entry.name}/`));
    else if (entry.name.endsWith('._S3rver_object'))
      out.push(`${under}${entry.name.slice(0, -'._S3rver_object'.length)}`);
  }
  return out.sort();
}

/** What the proxy does with a request: pass it on, or answer with this status itself. */
export type ProxyRule = (method: string, url: string) => 'pass' | number;

export interface S3Proxy {
  readonly endpoint: string;
  /** Replaceable: decides each request. */
  rule: ProxyRule;
  /** Replaceable: awaited before a passed request is forwarded (to act between a client's requests). */
  before: ((method: string, url: string) => Promise<void>) | undefined;
  /** Requests the proxy answered itself (`500 PUT /bucket/key`). */
  readonly refused: string[];
  stop(): Promise<void>;
}

/**
 * An HTTP proxy on 127.0.0.1 in front of `upstream`. With `enforceConditions`, a PUT carrying `If-Match` or
 * `If-None-Match` is checked against the object's current ETag (a HEAD upstream, one conditional PUT at a time) and
 * answered `412 PreconditionFailed` when it does not hold, as AWS S3 does.
 */
export async function startProxy(
  upstream: string,
  options: { enforceConditions?: boolean; rule?: ProxyRule } = {},
): Promise<S3Proxy> {
  const target = new URL(upstream);
  const refused: string[] = [];
  let queue: Promise<unknown> = Promise.resolve();
  const proxy: { -readonly [K in keyof S3Proxy]: S3Proxy[K] } = {
    endpoint: '',
    rule: options.rule ?? (() => 'pass'),
    before: undefined,
    refused,
    stop: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => {
          resolve();
        });
      }),
  };
  const forward = (req: IncomingMessage, res: import('node:http').ServerResponse): Promise<void> =>
    new Promise((resolve) => {
      const up = httpRequest(
        {
          host: target.hostname,
          port: target.port,
          method: req.method,
          path: req.url,
          headers: req.headers,
        },
        (upRes) => {
          res.writeHead(upRes.statusCode ?? 502, upRes.headers);
          upRes.pipe(res);
          upRes.on('end', () => {
            resolve();
          });
        },
      );
      up.on('error', () => {
        res.destroy();
        resolve();
      });
      req.pipe(up);
    });
  const currentEtag = (path: string): Promise<string | undefined> =>
    new Promise((resolve) => {
      const head = httpRequest({ host: target.hostname, port: target.port, method: 'HEAD', path }, (r) => {
        r.resume();
        const etag = r.headers.etag;
        resolve(r.statusCode === 200 && typeof etag === 'string' ? etag : undefined);
      });
      head.on('error', () => {
        resolve(undefined);
      });
      head.end();
    });
  const server = createServer((req, res) => {
    const method = req.method ?? '';
    const url = req.url ?? '';
    const verdict = proxy.rule(method, url);
    if (verdict !== 'pass') {
      refused.push(`${String(verdict)} ${method} ${url}`);
      req.resume();
      res.writeHead(verdict, { 'content-type': 'application/xml' });
      res.end(
        `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>InternalError</Code><Message>injected by the test proxy</Message></Error>`,
      );
      return;
    }
    void (proxy.before?.(method, url) ?? Promise.resolve()).then(() => {
      handle(req, res, method, url);
    });
  });
  const handle = (
    req: IncomingMessage,
    res: import('node:http').ServerResponse,
    method: string,
    url: string,
  ): void => {
    const ifMatch = req.headers['if-match'];
    const ifNoneMatch = req.headers['if-none-match'];
    if (
      options.enforceConditions === true &&
      method === 'PUT' &&
      (ifMatch !== undefined || ifNoneMatch !== undefined)
    ) {
      const run = queue.then(async () => {
        const etag = await currentEtag(url.split('?')[0] ?? url);
        const holds = ifMatch !== undefined ? etag === ifMatch : etag === undefined;
        if (!holds) {
          refused.push(`412 ${method} ${url}`);
          req.resume();
          res.writeHead(412, { 'content-type': 'application/xml' });
          res.end(
            `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>PreconditionFailed</Code><Message>At least one of the pre-conditions you specified did not hold</Message></Error>`,
          );
          return;
        }
        await forward(req, res);
      });
      queue = run.catch(() => undefined);
      return;
    }
    void forward(req, res);
  };
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  proxy.endpoint = `http://127.0.0.1:${String(port)}`;
  return proxy;
}
