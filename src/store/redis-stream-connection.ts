/**
 * A dedicated Redis connection for one large transfer, speaking just enough RESP to stream a value through the
 * socket without ever holding it (ioredis builds every command and reply as one Buffer, and copies it).
 *
 * Upload: `SET NAME <bulk> NX` with the bulk written straight from the source stream as it is hashed. The command
 * is not complete until its last bytes (`\r\n$2\r\nNX\r\n`) are sent, and they are sent only once the content has
 * hashed to NAME: on a mismatch the socket is destroyed and Redis discards the half-received command, so a wrong
 * object never exists, not even under a temp key.
 * Download: `GET NAME`, the bulk reply handed on synchronously as the socket reads it, into one reused read buffer:
 * nothing is allocated per read, so a large download leaves no garbage behind (and the RSS stays flat).
 */
import net from 'node:net';
import tls from 'node:tls';
import { trustExtraCaCerts } from './tls-trust.js';

export interface RawRedisTarget {
  host: string;
  port: number;
  tls: boolean;
  username?: string;
  password?: string;
  db: number;
  connectTimeoutMs: number;
  /** No byte in either direction for this long: the server is gone. */
  idleTimeoutMs?: number;
}

function bulk(arg: string): string {
  return `$${Buffer.byteLength(arg)}\r\n${arg}\r\n`;
}

export function encodeCommand(args: readonly string[]): string {
  return `*${args.length}\r\n${args.map(bulk).join('')}`;
}

/** A Redis error reply (`-ERR ...`); kept apart from transport errors so callers can classify it. */
export class RedisReplyError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'RedisReplyError';
  }
}

/** Bytes of a bulk reply are handed over synchronously, as views that are only valid during the call. */
export type BulkConsumer = (piece: Buffer) => void;

const READ_BUFFER_BYTES = 1024 * 1024;

export class RedisStreamConnection {
  /** Reply bytes not yet consumed (copied out of the read buffer: only ever reply headers and status lines). */
  private pending: Buffer = Buffer.alloc(0);
  private wake: (() => void) | undefined;
  private failure: Error | undefined;
  private bulk: { left: number; consume: BulkConsumer; done: () => void; fail: (e: unknown) => void } | undefined;

  private constructor(private readonly socket: net.Socket) {
    socket.on('error', (e) => this.fail(e));
    socket.on('close', () => this.fail(new Error('connection closed by the server')));
  }

  /** Connect, authenticate and select the database; Redis error replies surface as RedisReplyError. */
  static async open(t: RawRedisTarget): Promise<RedisStreamConnection> {
    let conn: RedisStreamConnection | undefined;
    const onData = (piece: Buffer): void => conn?.received(piece);
    const socket = await new Promise<net.Socket>((resolve, reject) => {
      // Plain TCP reads into one reused buffer (no allocation per read: a 300 MiB download leaves no garbage);
      // TLS sockets do not support that and deliver fresh buffers instead.
      const readBuffer = Buffer.allocUnsafe(READ_BUFFER_BYTES);
      if (t.tls) trustExtraCaCerts();
      const s = t.tls
        ? tls.connect({ host: t.host, port: t.port, ...(net.isIP(t.host) ? {} : { servername: t.host }) })
        : net.connect({
            host: t.host,
            port: t.port,
            onread: {
              buffer: readBuffer,
              callback: (n: number, buf: Uint8Array) => (onData(Buffer.from(buf.buffer, buf.byteOffset, n)), true),
            },
          });
      if (t.tls) s.on('data', onData);
      const timer = setTimeout(() => {
        const e = Object.assign(new Error(`connect timeout after ${t.connectTimeoutMs} ms`), { code: 'ETIMEDOUT' });
        s.destroy(e);
        reject(e);
      }, t.connectTimeoutMs);
      s.once(t.tls ? 'secureConnect' : 'connect', () => {
        clearTimeout(timer);
        resolve(s);
      });
      s.once('error', (e: Error) => {
        clearTimeout(timer);
        reject(e);
      });
    });
    socket.setNoDelay(true);
    socket.setTimeout(t.idleTimeoutMs ?? 60_000, () =>
      socket.destroy(Object.assign(new Error('connection idle too long'), { code: 'ETIMEDOUT' })),
    );
    conn = new RedisStreamConnection(socket);
    try {
      const setup: string[] = [];
      if (t.password !== undefined)
        setup.push(encodeCommand(t.username !== undefined ? ['AUTH', t.username, t.password] : ['AUTH', t.password]));
      if (t.db !== 0) setup.push(encodeCommand(['SELECT', String(t.db)]));
      if (setup.length > 0) {
        await conn.write(setup.join(''));
        for (let i = 0; i < setup.length; i++) await conn.readSimple();
      }
    } catch (e) {
      conn.destroy();
      throw e;
    }
    return conn;
  }

  private fail(e: Error): void {
    this.failure ??= e;
    const b = this.bulk;
    this.bulk = undefined;
    b?.fail(this.failure);
    this.wake?.();
  }

  /** Everything the socket reads passes here, synchronously. */
  private received(piece: Buffer): void {
    let rest = piece;
    const b = this.bulk;
    if (b) {
      const take = Math.min(b.left, rest.length);
      try {
        b.consume(rest.subarray(0, take));
      } catch (e) {
        this.bulk = undefined;
        b.fail(e);
        this.socket.destroy();
        return;
      }
      b.left -= take;
      rest = rest.subarray(take);
      if (b.left === 0) {
        this.bulk = undefined;
        b.done();
      }
    }
    if (rest.length > 0) {
      this.pending = Buffer.concat([this.pending, rest]); // a copy: `piece` may be the reused read buffer
      this.wake?.();
    }
  }

  async write(data: string | Buffer): Promise<void> {
    if (this.failure) throw this.failure;
    if (this.socket.write(data)) return;
    await new Promise<void>((resolve, reject) => {
      const cleanup = (): void => {
        this.socket.off('drain', onDrain);
        this.socket.off('close', onClose);
      };
      const onDrain = (): void => {
        cleanup();
        resolve();
      };
      const onClose = (): void => {
        cleanup();
        reject(this.failure ?? new Error('connection closed by the server'));
      };
      this.socket.on('drain', onDrain);
      this.socket.on('close', onClose);
    });
  }

  /** One reply line without its CRLF. */
  async readLine(): Promise<string> {
    for (;;) {
      const i = this.pending.indexOf('\r\n');
      if (i >= 0) {
        const line = this.pending.subarray(0, i).toString('latin1');
        this.pending = this.pending.subarray(i + 2);
        return line;
      }
      if (this.failure) throw this.failure;
      await new Promise<void>((resolve) => (this.wake = resolve));
      this.wake = undefined;
    }
  }

  /** A status or integer reply; an error reply throws RedisReplyError. */
  async readSimple(): Promise<string> {
    const line = await this.readLine();
    if (line.startsWith('-')) throw new RedisReplyError(line.slice(1));
    return line;
  }

  /**
   * The `n` bytes of a bulk reply whose header was read, handed to `consume` synchronously as they arrive (views
   * into the read buffer: copy what must outlive the call). Resolves after the last byte; rejects if `consume`
   * throws or the connection fails.
   */
  readBulk(n: number, consume: BulkConsumer): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const already = this.pending.subarray(0, n);
      this.pending = this.pending.subarray(already.length);
      try {
        if (already.length > 0) consume(already);
      } catch (e) {
        reject(e);
        return;
      }
      const left = n - already.length;
      if (left === 0) return resolve();
      if (this.failure) return reject(this.failure);
      this.bulk = { left, consume, done: resolve, fail: reject };
    });
  }

  destroy(): void {
    this.socket.destroy();
  }
}
