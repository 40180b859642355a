/**
 * A headless Chromium for the browser tests, without root and without a download: the one the npm
 * package `@sparticuz/chromium` carries (brotli-compressed, unpacked once into the project cache, with
 * the NSS libraries it ships so a machine without them runs it too), or the browser `CUTOVER_CHROMIUM`
 * names (Debian's /usr/bin/chromium, say). Driven with puppeteer-core; killed by PID when closed.
 */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as zlib from 'node:zlib';
import puppeteer, { type Browser } from 'puppeteer-core';
import { cacheDir } from '../../src/stack/paths';
import { killGroup } from '../../src/stack/processes';

/** The packaged browser, unpacked: the binary, its libraries and a font, and the environment that finds them. */
interface Unpacked {
  executable: string;
  env: Record<string, string>;
}

/** Unpacks `@sparticuz/chromium` into `<cache>/chromium-<version>` once (atomically: a rename), and reuses it. */
function unpackPackagedChromium(): Unpacked {
  // The package exports no package.json: walk up from its entry point to its folder.
  let pkgDir = path.dirname(require.resolve('@sparticuz/chromium'));
  while (!fs.existsSync(path.join(pkgDir, 'bin', 'chromium.br'))) {
    if (path.dirname(pkgDir) === pkgDir) throw new Error('@sparticuz/chromium has no bin/chromium.br: run npm ci');
    pkgDir = path.dirname(pkgDir);
  }
  const { version } = JSON.parse(fs.readFileSync(path.join(pkgDir, 'package.json'), 'utf8')) as { version: string };
  const dir = path.join(cacheDir(), `chromium-${version}`);
  const unpacked: Unpacked = {
    executable: path.join(dir, 'chromium'),
    // The package's libraries come first: its NSS build matches the browser; the machine's may be absent.
    env: { LD_LIBRARY_PATH: path.join(dir, 'lib'), FONTCONFIG_FILE: path.join(dir, 'fonts.conf') },
  };
  if (fs.existsSync(unpacked.executable)) return unpacked;
  fs.mkdirSync(cacheDir(), { recursive: true });
  const tmp = fs.mkdtempSync(path.join(cacheDir(), `chromium-${version}.partial-`));
  try {
    const bin = path.join(pkgDir, 'bin');
    const inflate = (name: string) => zlib.brotliDecompressSync(fs.readFileSync(path.join(bin, name)));
    // mkdtemp makes it 0700: the cache may be shared with other users.
    fs.chmodSync(tmp, 0o755);
    fs.writeFileSync(path.join(tmp, 'chromium'), inflate('chromium.br'), { mode: 0o755 });
    // Tar archives of libraries (`lib/…`) and fonts (`fonts/…`); the system tar unpacks them.
    for (const archive of ['al2023.tar.br', 'fonts.tar.br']) execFileSync('tar', ['-x', '-C', tmp], { input: inflate(archive) });
    // The package's fonts.conf names Lambda's paths: this one names ours.
    fs.writeFileSync(
      path.join(tmp, 'fonts.conf'),
      `<?xml version="1.0"?>\n<fontconfig>\n  <dir>${dir}/fonts</dir>\n  <cachedir>${dir}/fonts-cache</cachedir>\n</fontconfig>\n`,
    );
    try {
      fs.renameSync(tmp, dir);
    } catch (err) {
      // Another run unpacked it first: use theirs.
      if (!fs.existsSync(unpacked.executable)) throw err;
    }
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
  return unpacked;
}

/** A running headless browser, its PID, and a close that always leaves nothing behind. */
export interface TestBrowser {
  browser: Browser;
  pid: number;
  close(): Promise<void>;
}

/** Starts headless Chromium with a fresh profile; `close()` ends it and kills its process group by PID. */
export async function launchBrowser(): Promise<TestBrowser> {
  const chosen = process.env.CUTOVER_CHROMIUM;
  const { executable, env } = chosen ? { executable: chosen, env: {} } : unpackPackagedChromium();
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'cutover-chromium-'));
  const browser = await puppeteer.launch({
    executablePath: executable,
    headless: 'shell',
    userDataDir: profile,
    env: { ...process.env, ...env },
    timeout: 30_000,
    // No sandbox: it needs root or user namespaces, and the pages here are the project's own on loopback.
    // Nothing in the background: this machine has no network beyond loopback. CORS stays on (no
    // --disable-web-security): the tests check what the browser refuses.
    args: [
      '--no-sandbox',
      '--no-zygote',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--disable-quic',
      '--no-first-run',
    ],
  });
  const pid = browser.process()?.pid;
  if (pid === undefined) throw new Error('puppeteer started no browser process');
  return {
    browser,
    pid,
    close: async () => {
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([browser.close().catch(() => undefined), new Promise((r) => (timer = setTimeout(r, 5_000)))]);
      clearTimeout(timer);
      killGroup(pid, 'SIGKILL');
      fs.rmSync(profile, { recursive: true, force: true });
    },
  };
}
