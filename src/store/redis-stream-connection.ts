/**
 * A dedicated Redis connection for one large transfer, speaking just enough RESP to stream a value through the
 * socket without ever holding it (ioredis builds every command and reply as one Buffer, and copies it).
 *
 * Upload: `SET NAME <bulk> NX` with the bulk written straight from the source stream as it is hashed. The command
 * is not complete until its last bytes (`\r\n$2\r\nNX\r\n`) are sent, and they are sent only once the content has
 * hashed to NAME: on a mismatch the socket is destroyed and Redis discards the half-received command, so a wrong
 * object never exists, not even under a temp key.
 * Download: `GET NAME`, the bulk reply read from the socket in the pieces it arrives in, with backpressure.
 */
import net from 'node:net';
import tls from 'node:tls';

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

export class RedisStreamConnection {
  private buffered: Buffer = Buffer.alloc(0);
  private readonly reader: AsyncIterator<Buffer>;
  private failure: Error | undefined;

  private constructor(private readonly socket: net.Socket) {
    this.reader = (socket as AsyncIterable<Buffer>)[Symbol.asyncIterator]();
    socket.on('error', (e) => {
      this.failure ??= e;
    });
  }

  /** Connect, authenticate and select the database; Redis error replies surface as RedisReplyError. */
  static async open(t: RawRedisTarget): Promise<RedisStreamConnection> {
    const socket = await new Promise<net.Socket>((resolve, reject) => {
      const s = t.tls ? tls.connect({ host: t.host, port: t.port, servername: t.host }) : net.connect({ host: t.host, port: t.port });
      const timer = setTimeout(() => {
        const e = Object.assign(new Error(`connect timeout after ${t.connectTimeoutMs} ms`), { code: 'ETIMEDOUT' });
        s.destroy(e);
        reject(e);
      }, t.connectTimeoutMs);
      s.once(t.tls ? 'secureConnect' : 'connect', () => {
        clearTimeout(timer);
        resolve(s);
      });
      s.once('error', (e) => {
        clearTimeout(timer);
        reject(e);
      });
    });
    socket.setNoDelay(true);
    socket.setTimeout(t.idleTimeoutMs ?? 60_000, () => socket.destroy(Object.assign(new Error('connection idle too long'), { code: 'ETIMEDOUT' })));
    const conn = new RedisStreamConnection(socket);
    try {
      const setup: string[] = [];
      if (t.password !== undefined) setup.push(encodeCommand(t.username !== undefined ? ['AUTH', t.username, t.password] : ['AUTH', t.password]));
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

  private async more(): Promise<void> {
    const r = await this.reader.next();
    if (r.done) throw this.failure ?? new Error('connection closed by the server');
    this.buffered = this.buffered.length === 0 ? r.value : Buffer.concat([this.buffered, r.value]);
  }

  /** One reply line without its CRLF. */
  async readLine(): Promise<string> {
    for (;;) {
      const i = this.buffered.indexOf('\r\n');
      if (i >= 0) {
        const line = this.buffered.subarray(0, i).toString('latin1');
        this.buffered = this.buffered.subarray(i + 2);
        return line;
      }
      await this.more();
    }
  }

  /** A status or integer reply; an error reply throws RedisReplyError. */
  async readSimple(): Promise<string> {
    const line = await this.readLine();
    if (line.startsWith('-')) throw new RedisReplyError(line.slice(1));
    return line;
  }

  /** Exactly `n` bytes, yielded as they arrive (the socket is only read as fast as the consumer takes them). */
  async *readBytes(n: number): AsyncGenerator<Buffer> {
    let left = n;
    while (left > 0) {
      if (this.buffered.length === 0) await this.more();
      const take = Math.min(left, this.buffered.length);
      const piece = this.buffered.subarray(0, take);
      this.buffered = this.buffered.subarray(take);
      left -= take;
      yield piece;
    }
  }

  destroy(): void {
    this.socket.destroy();
  }
}
