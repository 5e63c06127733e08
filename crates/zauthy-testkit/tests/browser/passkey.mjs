// A real browser on the hosted pages: Debian's Chromium with a virtual WebAuthn authenticator (CDP) signs
// in with a password, adds a passkey on /passkeys, signs out, and signs in again with the passkey alone
// (discoverable, no email). Usage: node passkey.mjs <address> <org_id> <email> <password>; exits 0 on success.
import { chromium } from 'playwright-core';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const [address, orgId, email, password] = process.argv.slice(2);
if (!address || !orgId || !email || !password) {
  console.error('usage: node passkey.mjs <address> <org_id> <email> <password>');
  process.exit(2);
}
const base = `${address}/o/${orgId}`;
const STEP_MS = 20000;

function step(text) {
  console.log(`- ${text}`);
}

async function expectVisibleError(page) {
  const error = page.locator('#error');
  if (await error.isVisible()) throw new Error(`the page shows an error: ${await error.textContent()}`);
}

async function main(context) {
  const page = context.pages()[0] ?? (await context.newPage());
  page.setDefaultTimeout(STEP_MS);
  page.on('console', (m) => console.log(`  [console.${m.type()}] ${m.text()}`));
  page.on('pageerror', (e) => console.log(`  [pageerror] ${e.message}`));

  const cdp = await context.newCDPSession(page);
  await cdp.send('WebAuthn.enable');
  const { authenticatorId } = await cdp.send('WebAuthn.addVirtualAuthenticator', {
    options: {
      protocol: 'ctap2',
      transport: 'internal',
      hasResidentKey: true,
      hasUserVerification: true,
      isUserVerified: true,
      automaticPresenceSimulation: true,
    },
  });

  step('sign in with the password on the hosted sign-in page');
  await page.goto(`${base}/login`);
  await page.fill('#email', email);
  await page.fill('#password', password);
  await Promise.all([page.waitForURL(`${base}/account`), page.click('#sign-in')]);
  const signedIn = await page.textContent('#signed-in-as');
  if (!signedIn.includes(email)) throw new Error(`the account page shows ${signedIn}`);

  step('add a passkey on the passkeys page');
  await page.goto(`${base}/passkeys`);
  if ((await page.locator('#passkey-list li.passkey').count()) !== 0) throw new Error('a new user already has passkeys');
  await page.fill('#passkey-name', 'Browser test key');
  await page.click('#add-passkey');
  try {
    await page.locator('#passkey-list li.passkey').first().waitFor();
  } catch (e) {
    await expectVisibleError(page);
    throw e;
  }
  const listed = await page.textContent('#passkey-list');
  if (!listed.includes('Browser test key')) throw new Error(`the list shows ${listed}`);
  const { credentials } = await cdp.send('WebAuthn.getCredentials', { authenticatorId });
  if (credentials.length !== 1 || !credentials[0].isResidentCredential) {
    throw new Error(`the authenticator holds ${JSON.stringify(credentials)}; expected one discoverable credential`);
  }

  step('sign out');
  await page.goto(`${base}/account`);
  await Promise.all([page.waitForURL(`${base}/login`), page.click('#sign-out')]);
  await page.goto(`${base}/account`);
  await page.waitForURL(new RegExp(`/o/${orgId}/login`));

  step('sign in with the passkey alone (no email)');
  if ((await page.inputValue('#email')) !== '') throw new Error('the email field is not empty');
  await page.click('#passkey-sign-in');
  try {
    await page.waitForURL(`${base}/account`);
  } catch (e) {
    await expectVisibleError(page);
    throw e;
  }
  const again = await page.textContent('#signed-in-as');
  if (!again.includes(email)) throw new Error(`after the passkey sign-in the account page shows ${again}`);
  const after = await cdp.send('WebAuthn.getCredentials', { authenticatorId });
  if (after.credentials[0].signCount < 1) throw new Error('the authenticator did not sign');
  step('done');
}

const userDataDir = mkdtempSync(join(tmpdir(), 'zauthy-chromium-'));
let context;
let failed = false;
try {
  context = await chromium.launchPersistentContext(userDataDir, {
    executablePath: process.env.ZAUTHY_CHROMIUM ?? '/usr/bin/chromium',
    headless: true,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--no-first-run',
      '--disable-quic',
    ],
  });
  await main(context);
} catch (e) {
  failed = true;
  console.error(`FAILED: ${e && e.stack ? e.stack : e}`);
} finally {
  if (context) await context.close().catch(() => {});
  rmSync(userDataDir, { recursive: true, force: true });
}
process.exit(failed ? 1 : 0);
