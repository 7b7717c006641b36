// The browser build of the client library in a real headless Chromium (Debian's, driven by
// playwright-core; no browser download): the web chat example in two tabs generates two
// identities, uploads their bundles, authenticates (PoW in Web Workers, Ed25519 by @noble) and
// exchanges messages through a relay this test starts, over plain HTTP/WS on loopback with the
// page's origin allowed by CORS.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { chromium, type Browser, type Page } from 'playwright-core';
import { serveExample, type ExampleServer } from '../examples/web-chat/serve.js';
import { startTestRelay, type TestRelay } from './helpers/relay.js';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const BUILD = new URL('../scripts/build-browser.mjs', import.meta.url).pathname;

describe('browser client (headless Chromium, web chat example)', { timeout: 120_000 }, () => {
  let dir: string;
  let site: ExampleServer;
  let t: TestRelay;
  let browser: Browser;
  const pageErrors: string[] = [];

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'entropy-browser-'));
    // The bundle under test, built from the sources now (never a stale dist/).
    await promisify(execFile)(process.execPath, [BUILD, dir]);
    site = await serveExample({ bundleDir: dir });
    t = await startTestRelay({ tls: false, allowedOrigins: [site.url], powBase: 3 });
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
  });

  after(async () => {
    await browser?.close();
    await t?.close();
    await site?.close();
    await rm(dir, { recursive: true, force: true });
  });

  async function openTab(): Promise<Page> {
    const page = await browser.newPage();
    page.on('pageerror', (err) => pageErrors.push(err.message));
    page.on('console', (msg) => {
      if (msg.type() === 'error') pageErrors.push(msg.text());
    });
    const query = new URLSearchParams({ relay: t.relay.url, autoconnect: '1' });
    await page.goto(`${site.url}/?${query}`);
    return page;
  }

  async function connected(page: Page): Promise<string> {
    await page
      .waitForSelector('body[data-state="connected"]', { timeout: 60_000 })
      .catch(async (err: Error) => {
        throw new Error(`${err.message}; status: ${await page.textContent('#status')}`);
      });
    return (await page.textContent('#me'))!.trim();
  }

  async function send(from: Page, to: string, text: string): Promise<void> {
    await from.fill('#to', to);
    await from.fill('#message', text);
    await from.click('#send');
  }

  it('two tabs: identities, bundles, auth, and messages both ways through the relay', async () => {
    const [alice, bob] = [await openTab(), await openTab()];
    const [aliceHash, bobHash] = [await connected(alice), await connected(bob)];
    assert.match(aliceHash, /^[0-9a-f]{64}$/);
    assert.match(bobHash, /^[0-9a-f]{64}$/);
    assert.notEqual(aliceHash, bobHash, 'each tab has its own identity');

    // The relay verified and stored both bundles (signed in the page by @noble's Ed25519).
    for (const hash of [aliceHash, bobHash]) {
      const bundle = await t.request(`/keys/fetch?user=${hash}`);
      assert.equal(bundle.status, 200, bundle.body.toString());
    }
    // Proof of work ran in Web Workers, not on the page's thread.
    assert.ok(alice.workers().length > 0, 'the PoW solver started Web Workers');
    assert.match((await alice.textContent('#pow'))!, /proof of work: \d+ hashes/);

    await send(alice, bobHash, 'hello bob, from a browser');
    await bob.waitForSelector('#messages li.in:has-text("hello bob, from a browser")');
    await alice.waitForSelector('#messages li.out[data-status="delivered"]');
    assert.match((await bob.textContent('#messages li.in'))!, new RegExp(aliceHash.slice(0, 8)));

    await send(bob, aliceHash, 'hi alice');
    await alice.waitForSelector('#messages li.in:has-text("hi alice")');
    await bob.waitForSelector('#messages li.out[data-status="delivered"]');

    assert.deepEqual(pageErrors, []);
  });

  it('a tab whose origin the relay does not allow cannot upload (CORS)', async () => {
    const other = await startTestRelay({ tls: false, allowedOrigins: ['http://example.invalid'] });
    try {
      const page = await browser.newPage();
      const query = new URLSearchParams({ relay: other.relay.url, autoconnect: '1' });
      await page.goto(`${site.url}/?${query}`);
      await page.waitForSelector('body[data-state="failed"]');
      assert.match((await page.textContent('#status'))!, /failed/);
      await page.close();
    } finally {
      await other.close();
    }
  });
});
