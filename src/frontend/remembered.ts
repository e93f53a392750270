/**
 * What a front end remembers between runs (measured test times, a chosen sharding): small JSON files in the
 * store's directory, .gg/frontend/KIND/KEY.json. Written whole (temp + rename); read as hostile input: a
 * file that does not parse or does not pass `check` counts as absent, so a bad one costs a re-plan, never a run.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import type { LocalStore } from '../store/local-store.js';

const MAX_BYTES = 16 * 1024 * 1024;

export function rememberedKey(parts: unknown): string {
  return crypto.createHash('sha256').update(JSON.stringify(parts)).digest('hex').slice(0, 40);
}

export class Remembered<T> {
  private readonly dir: string;

  constructor(
    private readonly store: LocalStore,
    kind: string,
    private readonly check: (v: unknown) => v is T,
  ) {
    this.dir = path.join(store.ggDir, 'frontend', kind);
  }

  get(key: string): T | undefined {
    try {
      const file = path.join(this.dir, `${key}.json`);
      if ((fs.statSync(file, { throwIfNoEntry: false })?.size ?? MAX_BYTES + 1) > MAX_BYTES) return undefined;
      const v: unknown = JSON.parse(fs.readFileSync(file, 'utf8'));
      return this.check(v) ? v : undefined;
    } catch {
      return undefined;
    }
  }

  set(key: string, value: T): void {
    fs.mkdirSync(this.dir, { recursive: true });
    const tmp = this.store.tempPath('remembered');
    fs.writeFileSync(tmp, JSON.stringify(value));
    fs.renameSync(tmp, path.join(this.dir, `${key}.json`));
  }
}
