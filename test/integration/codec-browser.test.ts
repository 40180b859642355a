/**
 * The Temporal UI decodes encrypted payloads through the codec server, in a real headless Chromium.
 *
 * One dev server with its UI, started with `--ui-codec-endpoint`; `cutover codec-server` run from a plan
 * (a key file, the token in an environment variable, the UI's origin added as `dev up` adds it); a
 * workflow started by a client that encrypts, with a marker in its input. A browser signs in on the
 * codec server's page, sets the UI's Data Encoder settings as a person would (the browser's own
 * endpoint, credentials included), opens the workflow and reads the marker. Then the codec server
 * refuses: a wrong token at sign-in, and a codec server that does not list the UI's origin. Each time it
 * logs the refusal and the page never shows the marker.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Client, Connection } from '@temporalio/client';
import type { Page } from 'puppeteer-core';
import { stringify as toYaml, parse as parseYaml } from 'yaml';
import { loadPlan } from '../../src/config';
import { WRONG_TOKEN } from '../../src/security/codec-session';
import { dataConverterFor, ENCRYPTED_ENCODING, generateKey, loadCodec } from '../../src/security';
import { startCodecServerProcess } from '../../src/stack/codec-server-process';
import type { DevServer } from '../../src/stack/dev-server';
import { freePort } from '../../src/stack/ports';
import { stopProcess, type SpawnedProcess } from '../../src/stack/processes';
import { startUiDevServer, uniqueId } from '../harness';
import { launchBrowser, type TestBrowser } from '../harness/browser';
import { until } from '../harness/wait';

const NAMESPACE = 'payments';
/** Plaintext of the workflow's input: on the page only if the codec server decoded it. */
const MARKER = `rollback-reason-${randomBytes(6).toString('hex')}`;
const TOKEN_ENV = `CUTOVER_TEST_CODEC_TOKEN_${randomBytes(4).toString('hex').toUpperCase()}`;
const TOKEN = randomBytes(24).toString('hex');

type CodecProcess = SpawnedProcess & { url: string; logFile: string };

// What the functions passed to page.evaluate touch: they run in the page, not in Node (no DOM lib here).
declare const document: { body: { innerText: string } };
declare const localStorage: { setItem(key: string, value: string): void };

const pageText = (page: Page) => page.evaluate(() => document.body.innerText);

describe('codec server: the Temporal UI in headless Chromium', function () {
  this.timeout(60_000);
  let dir: string;
  let ui: DevServer | undefined;
  let codec: CodecProcess | undefined;
  let noOrigins: CodecProcess | undefined;
  let chrome: TestBrowser | undefined;
  let connection: Connection | undefined;
  let workflowUrl = '';

  const startCodec = async (name: string, planPath: string, origins: string[], listen?: string): Promise<CodecProcess> => {
    const logFile = path.join(dir, `${name}.log`);
    return { ...(await startCodecServerProcess({ planPath, origins, listen, logFile, detached: false })), logFile };
  };
  const logOf = (server: CodecProcess) => fs.readFileSync(server.logFile, 'utf8').split('\n');

  before(async function () {
    // The first run on a machine unpacks the browser into the project cache (a few seconds).
    this.timeout(120_000);
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cutover-codec-browser-'));
    const keyFile = path.join(dir, 'codec-k1.key');
    fs.writeFileSync(keyFile, `${generateKey()}\n`, { mode: 0o600 });
    process.env[TOKEN_ENV] = TOKEN;
    const port = await freePort();
    const plan = parseYaml(fs.readFileSync(path.resolve(__dirname, '../../examples/plan.yaml'), 'utf8')) as Record<string, unknown>;
    plan.codec = {
      keys: [{ id: 'k1', file: keyFile }],
      current: 'k1',
      // No origins of its own: the UI's is added as `dev up` adds it, on the command line.
      server: { listen: `127.0.0.1:${port}`, tokenEnv: TOKEN_ENV, origins: [], includeCredentials: true },
    };
    const planPath = path.join(dir, 'plan.yaml');
    fs.writeFileSync(planPath, toYaml(plan));

    ui = await startUiDevServer({ name: uniqueId('ui'), codecEndpoint: `http://127.0.0.1:${port}` });
    const uiUrl = ui.endpoint.uiUrl!;
    codec = await startCodec('codec', planPath, [uiUrl]);
    noOrigins = await startCodec('codec-no-origins', planPath, [], `127.0.0.1:${await freePort()}`);
    chrome = await launchBrowser();

    connection = await Connection.connect({ address: ui.endpoint.address });
    const client = new Client({ connection, namespace: NAMESPACE, dataConverter: dataConverterFor(loadCodec(loadPlan(planPath))!) });
    const workflowId = uniqueId('codec-browser');
    // No worker: the started event alone carries the input the UI shows.
    await client.workflow.start('namespaceMigration', {
      workflowId,
      taskQueue: uniqueId('no-worker'),
      args: [{ unit: `namespace/${NAMESPACE}`, actor: 'alice', reason: MARKER }],
    });
    // Stored encrypted: what the UI gets from the server is ciphertext.
    const history = await new Client({ connection, namespace: NAMESPACE }).workflow.getHandle(workflowId).fetchHistory();
    const input = history.events![0]!.workflowExecutionStartedEventAttributes!.input!.payloads![0]!;
    assert.equal(Buffer.from(input.metadata!.encoding!).toString(), ENCRYPTED_ENCODING);
    assert.ok(!JSON.stringify(history).includes(MARKER));
    workflowUrl = `${uiUrl}/namespaces/${NAMESPACE}/workflows/${workflowId}`;
  });

  after(async function () {
    this.timeout(30_000);
    await chrome?.close();
    await Promise.all([stopProcess(codec), stopProcess(noOrigins), ui?.stop()]);
    await connection?.close();
    delete process.env[TOKEN_ENV];
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  /**
   * In a fresh browser profile (no cookies, no storage): signs in on `server`'s page with `token`, sets
   * the UI's Data Encoder settings to `server` with credentials included, and opens the workflow.
   */
  async function visit(server: CodecProcess, token: string): Promise<{ page: Page; signIn: number | undefined; signInText: string }> {
    const context = await chrome!.browser.createBrowserContext();
    const page = await context.newPage();
    await page.goto(`${server.url}/session`);
    await page.type('input[name=token]', token);
    const [answer] = await Promise.all([page.waitForNavigation(), page.click('button[type=submit]')]);
    const signInText = await pageText(page);
    // The UI keeps its Data Encoder settings in localStorage: "use my browser's setting", the
    // endpoint, and "include cross-origin credentials" (so the session cookie goes with each decode).
    await page.goto(ui!.endpoint.uiUrl!);
    await page.evaluate((endpoint) => {
      localStorage.setItem('overrideRemoteCodecConfiguration', 'true');
      localStorage.setItem('endpoint', JSON.stringify(endpoint));
      localStorage.setItem('includeCredentials', 'true');
    }, server.url);
    await page.goto(workflowUrl);
    return { page, signIn: answer?.status(), signInText };
  }

  it("starts the UI with the codec server as its codec endpoint (the dev server's --ui-codec-endpoint)", async () => {
    const res = await fetch(`${ui!.endpoint.uiUrl}/api/v1/settings`);
    const settings = (await res.json()) as { Codec: { Endpoint: string } };
    assert.equal(settings.Codec.Endpoint, codec!.url);
  });

  it('shows the decoded input once the browser has signed in with the token', async () => {
    const { page, signIn, signInText } = await visit(codec!, TOKEN);
    assert.equal(signIn, 200);
    assert.match(signInText, /Signed in for 12 hours/);
    await page.waitForFunction((marker) => document.body.innerText.includes(marker), { timeout: 20_000 }, MARKER);
    // The server logs a request once its answer is sent, so the line may trail the page by a moment.
    await until('the codec server to log the decode', () =>
      logOf(codec!).some((l) => /^codec-server POST "\/decode" namespace="payments" 200 /.test(l)),
    );
    await page.browserContext().close();
  });

  it('shows no plaintext when the sign-in token is wrong: the codec server answers 401 and logs it', async () => {
    const from = logOf(codec!).length;
    const { page, signIn, signInText } = await visit(codec!, `${TOKEN}-wrong`);
    assert.equal(signIn, 401);
    assert.ok(signInText.includes(WRONG_TOKEN));
    await until('the codec server to log the refused sign-in', () =>
      logOf(codec!)
        .slice(from)
        .some((l) => l.endsWith('(sign-in refused: invalid token)')),
    );
    await until('the codec server to refuse the UI a decode', () =>
      logOf(codec!)
        .slice(from)
        .some((l) => /^codec-server POST "\/decode" namespace=- 401 \d+ms \(no credentials\)$/.test(l)),
    );
    await refusedPageSettles(page);
    assert.ok(!(await pageText(page)).includes(MARKER), 'plaintext shown without a session');
    await page.browserContext().close();
  });

  it('shows no plaintext when the codec server does not list the UI origin: it answers 403 and logs it', async () => {
    const { page, signIn } = await visit(noOrigins!, TOKEN);
    // Signing in is on the codec server's own page, so it works; the UI's calls are what it refuses.
    assert.equal(signIn, 200);
    await until('the codec server to refuse the UI origin', () =>
      logOf(noOrigins!).some((l) => /^codec-server (OPTIONS|POST) "\/decode" namespace=- 403 \d+ms \(origin not allowed\)$/.test(l)),
    );
    await refusedPageSettles(page);
    assert.ok(!(await pageText(page)).includes(MARKER), 'plaintext shown for a refused origin');
    assert.ok(!logOf(noOrigins!).some((l) => / 200 /.test(l) && l.includes('/decode')));
    await page.browserContext().close();
  });
});

/**
 * Waits until the UI has given up on the codec server and rendered the workflow's input as stored: its
 * banner says the codec server failed, and the input shows the encrypted payload (its `encoding` metadata,
 * base64 as the UI prints it). Only then is "the marker is absent" a finding rather than a page loading.
 */
async function refusedPageSettles(page: Page): Promise<void> {
  const encrypted = Buffer.from(ENCRYPTED_ENCODING).toString('base64');
  await page.waitForFunction(
    (enc) => document.body.innerText.includes('Codec Server could not connect') && document.body.innerText.includes(enc),
    { timeout: 20_000 },
    encrypted,
  );
}
