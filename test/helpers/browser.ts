/**
 * A page in Debian's headless chromium (the real browser, driven by playwright-core over CDP; nothing is
 * downloaded). Collects console errors and uncaught page errors so a test can insist there are none.
 */
import fs from 'node:fs';
import path from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { REPO } from './cli.js';

export const CHROMIUM = process.env['GG_TEST_CHROMIUM'] ?? '/usr/bin/chromium';
/** Screenshots and other artifacts a test attaches to its output (not committed). */
export const ARTIFACTS = path.join(REPO, 'test-results');

export interface OpenedPage {
  page: Page;
  errors: string[];
  close(): Promise<void>;
}

export async function openInChromium(file: string, userDataDir: string): Promise<OpenedPage> {
  if (!fs.existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: apt-get install -y chromium (.ci/run does)`);
  const context = await chromium.launchPersistentContext(userDataDir, {
    executablePath: CHROMIUM,
    headless: true,
    viewport: { width: 1400, height: 900 },
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
  const page = context.pages()[0] ?? (await context.newPage());
  const errors: string[] = [];
  page.on('console', (m) => {
    if (m.type() === 'error') errors.push(`console: ${m.text()}`);
  });
  page.on('pageerror', (e) => errors.push(`page error: ${e.message}`));
  // Any request leaving the page (a CDN, a font) is an error: the page must be self-contained.
  page.on('request', (r) => {
    if (!r.url().startsWith('file:') && !r.url().startsWith('data:')) errors.push(`network request: ${r.url()}`);
  });
  await page.goto(`file://${path.resolve(file)}`);
  return { page, errors, close: () => context.close() };
}

export type { Browser };
