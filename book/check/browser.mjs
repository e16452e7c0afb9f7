// Browser check for the syslab book.
//
// Serves the built HTML book over a local static server, opens every page in
// headless Chromium, and fails if any page
//   - logs a console error or throws an uncaught exception,
//   - requests a file from the book that is missing or fails to load,
//   - has an <img> or <object> figure that did not load (naturalWidth 0),
//   - shows no content,
//   - or links to a page or #anchor of the book that does not exist
//     (mdbook-linkcheck2 checks files, not anchors),
//   - or, at a 1280 px wide window with the sidebar open, has a table or code
//     block wider than the text column that does not scroll inside it (it
//     would be cut off at the column's edge).
// It also saves screenshots of the figures listed in SHOTS, with their pages.
//
// Usage: node book/check/browser.mjs [HTML_DIR] [SCREENSHOT_DIR]
//   defaults: book/book/html and target/book-screenshots, relative to the
//   current directory (book/check.sh runs it from the repository root).
// Environment: CHROMIUM (default /usr/bin/chromium); BOOK_CHECK_TIMING=1
// prints how long each page took to load.

import { chromium } from 'playwright-core';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';

const root = path.resolve(process.argv[2] ?? 'book/book/html');
const shotDir = path.resolve(process.argv[3] ?? 'target/book-screenshots');
const executablePath = process.env.CHROMIUM ?? '/usr/bin/chromium';

// Figures to screenshot: the page that holds each, the figure's file, and
// the name of the PNGs (NAME.png: the page around it; NAME-figure.png: the
// figure alone).
const SHOTS = [
  { page: 'lab0/gdt.html', figure: 'figures/gdt.svg', name: 'gdt' },
  { page: 'lab1/trap-frame.html', figure: 'figures/ktrap-frame.svg', name: 'ktrap-frame' },
  { page: 'lab2/shared-user-data.html', figure: 'figures/sysenter-path.svg', name: 'sysenter-path' },
  { page: 'lab2/exercise.html', figure: 'figures/two-cpus.svg', name: 'two-cpus' },
  { page: 'lab3/swapgs.html', figure: 'figures/syscall-swapgs.svg', name: 'syscall-swapgs' },
  { page: 'benchmark/results.html', figure: 'figures/bench-intel.svg', name: 'bench-intel' },
  { page: 'benchmark/results.html', figure: 'figures/bench-amd.svg', name: 'bench-amd' },
  { page: 'benchmark/anatomy.html', figure: 'figures/anatomy-intel.svg', name: 'anatomy-intel' },
  { page: 'benchmark/anatomy.html', figure: 'figures/anatomy-before-intel.svg', name: 'anatomy-before-intel' },
];
// Pages checked at the same time.
const PARALLEL = 4;
// The window width of the check, in CSS pixels.
const VIEWPORT_WIDTH = 1280;

const TYPES = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.json': 'application/json',
  '.woff': 'font/woff',
  '.woff2': 'font/woff2',
  '.ttf': 'font/ttf',
  '.txt': 'text/plain; charset=utf-8',
};

function htmlPages(dir, prefix = '') {
  const pages = [];
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    const rel = prefix + entry.name;
    if (entry.isDirectory()) pages.push(...htmlPages(path.join(dir, entry.name), rel + '/'));
    else if (entry.name.endsWith('.html')) pages.push(rel);
  }
  return pages.sort();
}

// Maps a URL path to a file under `root`, or null if there is none.
function fileFor(urlPath) {
  let rel = decodeURIComponent(urlPath);
  if (rel.endsWith('/')) rel += 'index.html';
  const file = path.join(root, rel);
  if (!file.startsWith(root + path.sep)) return null;
  try {
    return fs.statSync(file).isFile() ? file : null;
  } catch {
    return null;
  }
}

function serve() {
  const server = http.createServer((req, res) => {
    const file = fileFor(new URL(req.url, 'http://localhost').pathname);
    if (!file) {
      res.writeHead(404, { 'content-type': 'text/plain' });
      res.end('not found');
      return;
    }
    const type = TYPES[path.extname(file)] ?? 'application/octet-stream';
    res.writeHead(200, { 'content-type': type });
    fs.createReadStream(file).pipe(res);
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)));
}

async function main() {
  if (!fs.existsSync(path.join(root, 'index.html'))) {
    throw new Error(`no built book at ${root} (run mdbook build book first)`);
  }
  const pages = htmlPages(root);
  const server = await serve();
  const base = `http://127.0.0.1:${server.address().port}/`;

  const browser = await chromium.launch({
    executablePath,
    headless: true,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
  // A common laptop width: with the sidebar open, the text column is then
// narrower than the widest console transcripts and tables.
  const context = await browser.newContext({ viewport: { width: VIEWPORT_WIDTH, height: 900 } });
  // Nothing in the book may come from the network: stub out any other origin.
  await context.route((url) => !url.href.startsWith(base), (route) => route.abort());

  const failures = [];
  const ids = new Map(); // page path -> Set of element ids
  const links = []; // { from, href }
  let figures = 0;
  let wideBlocks = 0;
  const shotsTaken = new Set();

  async function checkPage(rel) {
    const page = await context.newPage();
    const problems = [];
    page.on('console', (msg) => {
      if (msg.type() === 'error') problems.push(`console error: ${msg.text()}`);
    });
    page.on('pageerror', (err) => problems.push(`page error: ${err.message}`));
    page.on('requestfailed', (req) => {
      if (req.url().startsWith(base)) problems.push(`request failed: ${req.url()} (${req.failure()?.errorText})`);
    });
    page.on('response', (resp) => {
      if (resp.url().startsWith(base) && resp.status() >= 400) problems.push(`HTTP ${resp.status()}: ${resp.url()}`);
    });

    const t0 = Date.now();
    await page.goto(base + rel, { waitUntil: 'load' });
    if (process.env.BOOK_CHECK_TIMING) console.log(`${rel}: ${Date.now() - t0} ms`);
    const found = await page.evaluate(async () => {
      const figs = [];
      for (const img of document.images) {
        try {
          await img.decode();
        } catch {
          // reported through naturalWidth below
        }
        figs.push({ kind: 'img', src: img.getAttribute('src'), ok: img.complete && img.naturalWidth > 0 });
      }
      for (const obj of document.querySelectorAll('object')) {
        const doc = obj.contentDocument;
        figs.push({ kind: 'object', src: obj.getAttribute('data'), ok: Boolean(doc && doc.documentElement) });
      }
      const main = document.querySelector('main');
      // Tables and code blocks wider than the column: each must scroll inside
      // an element of the column (overflow-x auto or scroll), not spill out.
      const wide = [];
      if (main) {
        const column = main.getBoundingClientRect();
        for (const el of main.querySelectorAll('table, pre > code')) {
          if (el.scrollWidth <= el.clientWidth + 1) continue;
          let scrolls = false;
          for (let n = el; n && n !== main; n = n.parentElement) {
            const o = getComputedStyle(n).overflowX;
            if ((o === 'auto' || o === 'scroll') && n.getBoundingClientRect().right <= column.right + 1) {
              scrolls = true;
              break;
            }
          }
          wide.push({ what: el.tagName === 'TABLE' ? 'table' : 'code block', text: el.innerText.slice(0, 60), scrolls });
        }
      }
      return {
        wide,
        figs,
        text: (main ? main.innerText : document.body.innerText).trim().length,
        ids: [...document.querySelectorAll('[id]')].map((e) => e.id)
          .concat([...document.querySelectorAll('a[name]')].map((e) => e.name)),
        links: [...document.querySelectorAll('a[href]')].map((a) => a.href),
      };
    });

    for (const fig of found.figs) {
      figures += 1;
      if (!fig.ok) problems.push(`figure did not load: <${fig.kind}> ${fig.src}`);
    }
    if (found.text === 0 && rel !== 'toc.html') problems.push('page shows no text');
    for (const w of found.wide) {
      wideBlocks += 1;
      if (!w.scrolls) problems.push(`a ${w.what} wider than the column at ${VIEWPORT_WIDTH} px does not scroll: ${JSON.stringify(w.text)}`);
    }
    ids.set(rel, new Set(found.ids));
    for (const href of found.links) links.push({ from: rel, href });

    for (const shot of SHOTS.filter((s) => s.page === rel)) {
      const fig = page.locator(`img[src$="${shot.figure}"]`);
      if ((await fig.count()) === 0) {
        problems.push(`no <img> of ${shot.figure} on this page`);
      } else {
        fs.mkdirSync(shotDir, { recursive: true });
        await fig.first().evaluate((el) => el.scrollIntoView({ block: 'center' }));
        await page.screenshot({ path: path.join(shotDir, `${shot.name}.png`) });
        await fig.first().screenshot({ path: path.join(shotDir, `${shot.name}-figure.png`) });
        shotsTaken.add(shot.name);
      }
    }

    await page.close();
    for (const p of problems) failures.push(`${rel}: ${p}`);
  }

  // A few pages at a time: each load mostly waits on the renderer.
  const queue = [...pages];
  const workers = Array.from({ length: PARALLEL }, async () => {
    while (queue.length > 0) await checkPage(queue.shift());
  });
  await Promise.all(workers);

  // Internal links: the target must exist, and so must its #anchor.
  let checkedLinks = 0;
  for (const { from, href } of links) {
    // mdbook writes 404.html's links relative to the site root, for a server
    // that shows it at any path; they are not links between pages.
    if (from === '404.html' || !href.startsWith(base)) continue;
    const url = new URL(href);
    let target = decodeURIComponent(url.pathname).slice(1);
    if (target === '' || target.endsWith('/')) target += 'index.html';
    checkedLinks += 1;
    if (!fileFor(url.pathname)) {
      failures.push(`${from}: link to a missing file: ${target}`);
      continue;
    }
    const anchor = decodeURIComponent(url.hash.slice(1));
    if (anchor && target.endsWith('.html') && !ids.get(target)?.has(anchor)) {
      failures.push(`${from}: link to a missing anchor: ${target}#${anchor}`);
    }
  }

  await browser.close();
  server.close();

  for (const shot of SHOTS) {
    const file = path.join(shotDir, `${shot.name}.png`);
    // A stale file from an earlier run must not hide a missing page.
    if (!shotsTaken.has(shot.name) || !fs.existsSync(file)) failures.push(`no screenshot of ${shot.page} was saved`);
  }

  console.log(`browser check: ${pages.length} pages, ${figures} figures, ${checkedLinks} internal links`);
  console.log(`browser check: ${wideBlocks} tables and code blocks wider than the column at ${VIEWPORT_WIDTH} px, each scrolling inside it`);
  if (failures.length > 0) {
    for (const f of failures) console.error(`FAIL ${f}`);
    console.error(`browser check: ${failures.length} problem(s)`);
    process.exit(1);
  }
  const names = SHOTS.map((s) => `${s.name}.png`).join(', ');
  console.log(`browser check: OK; screenshots in ${path.relative(process.cwd(), shotDir)}/: ${names}`);
}

main().catch((err) => {
  console.error(`browser check: ${err.stack ?? err}`);
  process.exit(1);
});
