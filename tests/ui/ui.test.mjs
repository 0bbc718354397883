// ui.test.mjs: barged's pages in Debian's chromium, against the real
// barged that run.sh started (its environment says where).  The tests run
// in order, as an operator would click: each one's state is the next one's
// start.  Every page is photographed at desktop and phone width into
// UI_SHOTS.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { chromium } from 'playwright-core';

const env = (k) => {
  if (!process.env[k]) throw new Error(`${k} is not set: run tests/ui/run.sh`);
  return process.env[k];
};
const URL = env('UI_URL');
const PROJECT = env('UI_PROJECT');
const MARKUP = env('UI_MARKUP');
const SHOTS = env('UI_SHOTS');
const CERTS = env('UI_CERTS');
const repo = (n) => `${PROJECT}/docker.io/library/${n}`;

// The flags Debian's chromium needs here (docs/ui.md): no sandbox as root,
// no GPU, and no background traffic to hosts a closed network refuses.
const FLAGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
  '--disable-dev-shm-usage'];

let browser;
let context;
let page;
const problems = []; // console errors, page errors and CSP violations

before(async () => {
  browser = await chromium.launch({
    executablePath: '/usr/bin/chromium',
    args: FLAGS,
    // HOME holds the NSS database that trusts barged's CA (run.sh).
    env: { ...process.env, HOME: env('UI_HOME') },
  });
  context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: URL });
  page = await context.newPage();
  page.setDefaultTimeout(15000);
  page.on('console', (m) => { if (m.type() === 'error') problems.push('console: ' + m.text()); });
  page.on('pageerror', (e) => problems.push('page error: ' + e.message));
  page.on('dialog', (d) => d.accept());
  await page.addInitScript(() => {
    document.addEventListener('securitypolicyviolation', (e) => {
      console.error(`CSP violation: ${e.violatedDirective} ${e.blockedURI}`);
    });
  });
});

after(async () => {
  await browser?.close();
});

// shot(name): the page now, at desktop and phone width.
async function shot(name) {
  await page.screenshot({ path: `${SHOTS}/${name}.png` });
  await page.setViewportSize({ width: 390, height: 844 });
  await page.screenshot({ path: `${SHOTS}/${name}-phone.png` });
  await page.setViewportSize({ width: 1280, height: 800 });
}

// skopeo(args): its exit status and output, with barged's CA trusted.
function skopeo(...args) {
  const r = spawnSync('skopeo', ['inspect', '--raw', '--cert-dir', CERTS, ...args],
    { encoding: 'utf8' });
  return { status: r.status, out: r.stdout, err: r.stderr };
}
const host = new globalThis.URL(URL).host;
const ref = (n, tag = '1.0') => `docker://${host}/${repo(n)}:${tag}`;
const ADMIN = `admin:${env('UI_PASSWORD')}`;

test('the shell loads under the CSP over HTTPS with barged\'s CA, and asks for a login', async () => {
  const res = await page.goto(URL + '/');
  assert.equal(res.status(), 200);
  const h = res.headers();
  assert.match(h['content-security-policy'], /default-src 'self'; script-src 'self'/);
  assert.match(h['content-security-policy'], /frame-ancestors 'none'/);
  assert.equal(h['content-encoding'], 'gzip');
  await page.locator('#password').waitFor();
  assert.equal(new globalThis.URL(page.url()).hash.startsWith('#/login'), true);
  await shot('login');
  assert.deepEqual(problems.filter((p) => !/401/.test(p)), []);
});

test('a wrong password is refused with a message', async () => {
  await page.fill('#password', 'not-the-password');
  await page.click('#login');
  await page.locator('#login-msg .error').waitFor();
  assert.match(await page.textContent('#login-msg'), /Wrong user name or password/);
});

test('log in as admin: the overview', async () => {
  problems.length = 0;
  await page.fill('#password', env('UI_PASSWORD'));
  await page.click('#login');
  await page.locator('#n-images').waitFor();
  assert.match(await page.textContent('#who'), /admin/);
  // The pull-through cache's upstream (run.sh: --proxy docker.io=...), up.
  const up = page.locator('#upstreams tr[data-registry="docker.io"]');
  await up.waitFor();
  assert.deepEqual(await up.locator('td').allTextContents(), ['docker.io', env('UI_UPSTREAM'), 'up']);
  await shot('overview');
});

test('a tag pulled through the cache says it came from the proxy', async () => {
  await page.goto(`${URL}/#/repo?name=${encodeURIComponent(repo('cached'))}`);
  const row = page.locator('#tags tr[data-tag="1.0"]');
  await row.waitFor();
  assert.equal(await row.locator('td').nth(6).textContent(), 'proxy docker.io');
  assert.equal(await row.locator('td').nth(1).textContent(), env('UI_DIGEST_APP_A'));
});

test('find an image by filter, open it and read its digest (upstream\'s)', async () => {
  await page.click('#nav a[data-page=repos]');
  await page.locator('#repos tbody tr').first().waitFor();
  await shot('repositories');
  await page.fill('#filter', 'app-a');
  await page.waitForFunction(() => document.querySelectorAll('#repos tbody tr').length === 1 &&
    document.querySelector('#repos tbody').textContent.includes('app-a'));
  await page.click(`#repos a:text-is("${repo('app-a')}")`);
  await page.locator('#tags tr[data-tag="1.0"]').waitFor();
  await shot('tags');
  await page.click('#tags tr[data-tag="1.0"] td:first-child a');
  await page.locator('#digest').waitFor();
  assert.equal(await page.textContent('#digest'), env('UI_DIGEST_APP_A'));
  assert.match(await page.textContent('#manifest'), /"schemaVersion": 2/);
  assert.ok(await page.locator('#layers tbody tr').count() >= 2);
  await shot('image');
  // An index: its digest is upstream's too.
  await page.goto(`${URL}/#/image?repo=${encodeURIComponent(repo('multi'))}&ref=1.0`);
  await page.locator('#digest').waitFor();
  assert.equal(await page.textContent('#digest'), env('UI_DIGEST_MULTI'));
});

test('copy a pull reference', async () => {
  await page.goto(`${URL}/#/repo?name=${encodeURIComponent(repo('app-a'))}`);
  const row = page.locator('#tags tr[data-tag="1.0"]');
  await row.waitFor();
  const shown = await row.locator('td.refs .copyfield code').first().textContent();
  assert.ok(shown.endsWith(`/${repo('app-a')}:1.0`), shown);
  await row.locator('td.refs button').first().click();
  await row.locator('.copied:text("copied")').first().waitFor();
  assert.equal(await page.evaluate(() => navigator.clipboard.readText()), shown);
});

test('a repository of more than one page of tags: More shows the rest', async () => {
  const want = Number(env('UI_MANY_TAGS'));
  await page.goto(`${URL}/#/repo?name=${encodeURIComponent(repo('many'))}`);
  await page.locator('#tags tr[data-tag="t000"]').waitFor();
  assert.equal(await page.locator('#tags tbody tr').count(), 100);
  assert.equal(await page.textContent('#tag-count'), '100+ tags');
  const last = `t${String(want - 1).padStart(3, '0')}`;
  assert.equal(await page.locator(`#tags tr[data-tag="${last}"]`).count(), 0);
  await page.click('#tags-more');
  await page.locator(`#tags tr[data-tag="${last}"]`).waitFor();
  assert.equal(await page.locator('#tags tbody tr').count(), want);
  assert.equal(await page.textContent('#tag-count'), `${want} tags`);
  assert.equal(await page.locator('#tags-more').isHidden(), true);
  // Every tag once: the second page starts after the first's last.
  const tags = await page.$$eval('#tags tbody tr', (rs) => rs.map((r) => r.dataset.tag));
  assert.equal(new Set(tags).size, want);
});

test('upload a bundle and watch it load', async () => {
  await page.click('#nav a[data-page=bundles]');
  await page.locator('#bundles tbody tr').first().waitFor();
  // Every value the progress bar takes, as the upload goes.
  await page.evaluate(() => {
    window.__progress = [];
    const bar = document.getElementById('upload-progress');
    new MutationObserver(() => window.__progress.push([bar.value, bar.max]))
      .observe(bar, { attributes: true });
    const tick = () => {
      window.__progress.push([bar.value, bar.max]);
      if (!window.__done) requestAnimationFrame(tick);
    };
    tick();
  });
  await page.setInputFiles('#bundle-file', env('UI_UPLOAD_BUNDLE'));
  await page.click('#upload');
  await page.locator('#upload-result .note').waitFor({ timeout: 120000 });
  await page.evaluate(() => { window.__done = true; });
  assert.match(await page.textContent('#upload-result'), /Loaded uploaded 1\.0\.0: 1 images/);
  const progress = await page.evaluate(() => window.__progress);
  const last = progress[progress.length - 1];
  assert.ok(last[1] > 1 && last[0] === last[1], `the bar ends full: ${JSON.stringify(last)}`);
  await page.locator('#bundles tbody tr', { hasText: 'uploaded' }).waitFor();
  await shot('bundles');
  assert.equal(skopeo('--creds', ADMIN, ref('app-b')).status, 0);
});

test('delete a tag: skopeo inspect fails for it', async () => {
  await page.goto(`${URL}/#/repo?name=${encodeURIComponent(repo('app-b'))}`);
  const row = page.locator('#tags tr[data-tag="1.0"]');
  await row.waitFor();
  await row.locator('button.danger').click();
  await page.locator('#main .note.ok').waitFor();
  assert.equal(await page.locator('#tags tr[data-tag="1.0"]').count(), 0);
  const r = skopeo('--creds', ADMIN, ref('app-b'));
  assert.notEqual(r.status, 0);
  assert.match(r.err, /manifest unknown|not found/i);
});

test('a scoped token pulls in its scope, not outside, and not once revoked', async () => {
  await page.click('#nav a[data-page=tokens]');
  await page.locator('#token-name').waitFor();
  await page.fill('#token-name', 'ui-nodes');
  await page.selectOption('#token-expiry', '86400');
  await page.fill('#token-scope', `${PROJECT}/docker.io/library/app-*`);
  await page.click('#create-token');
  await page.locator('#token-created code').waitFor();
  const token = (await page.textContent('#token-created code')).trim();
  assert.ok(token.length >= 20);
  await page.locator('#tokens tr[data-token="ui-nodes"]').waitFor();
  await shot('tokens');
  const creds = `ui-nodes:${token}`;
  const inScope = skopeo('--creds', creds, ref('app-a'));
  assert.equal(inScope.status, 0, inScope.err);
  const sha = execFileSync('sha256sum', { input: inScope.out }).toString().split(' ')[0];
  assert.equal('sha256:' + sha, env('UI_DIGEST_APP_A'));
  assert.notEqual(skopeo('--creds', creds, ref('multi')).status, 0);
  // Shown once: the list never shows it again.
  await page.reload();
  await page.locator('#tokens tr[data-token="ui-nodes"]').waitFor();
  assert.equal((await page.textContent('#main')).includes(token), false);
  await page.locator('#tokens tr[data-token="ui-nodes"] button.danger').click();
  await page.waitForFunction(() => !document.querySelector('#tokens tr[data-token="ui-nodes"]'));
  assert.notEqual(skopeo('--creds', creds, ref('app-a')).status, 0);
});

test('run GC and read its result', async () => {
  await page.click('#nav a[data-page=overview]');
  await page.click('#run-gc');
  await page.locator('#gc-result .note').waitFor();
  assert.match(await page.textContent('#gc-result'),
    /^Removed \d+ manifests and \d+ blobs, [\d.]+ (B|KiB|MiB)\.$/);
  await shot('gc');
});

test('recent webhook decisions and loads', async () => {
  await page.click('#nav a[data-page=events]');
  await page.locator('#load-events').waitFor();
  await page.locator('#load-events tbody tr', { hasText: 'loaded uploaded 1.0.0' }).first().waitFor();
  await shot('events');
});

// Markup from a bundle (its source path, an image's annotations) is text:
// no element is made of it, no handler runs, and the characters show.
async function noMarkupRan() {
  assert.equal(await page.evaluate(() => document.querySelectorAll('main img, main b').length), 0);
  assert.equal(await page.evaluate(() => window.__xss), undefined);
}

test('a hostile bundle\'s markup shows as text', async () => {
  await page.goto(`${URL}/#/image?repo=${encodeURIComponent(repo('hostile'))}&ref=1.0`);
  await page.locator('#manifest').waitFor();
  const text = await page.textContent('#manifest');
  assert.ok(text.includes(MARKUP), text);
  await page.getByText(`<b>${MARKUP}</b>`, { exact: false }).waitFor({ state: 'visible' });
  await noMarkupRan();
  await page.locator('#manifest').scrollIntoViewIfNeeded();
  await shot('hostile');
});

test('no console error, page error or CSP violation since the login', () => {
  assert.deepEqual(problems, []);
});

test('log out ends the session', async () => {
  await page.click('#logout');
  await page.locator('#password').waitFor();
  const r = await page.evaluate(async () => (await fetch('/api/v1/session')).status);
  assert.equal(r, 401);
});
