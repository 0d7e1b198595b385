// skyssl-serve's page in headless Chromium (Debian's /usr/bin/chromium through playwright-core):
// type a position, see the query tile and N neighbour tiles load, click a neighbour, download
// the CSV, drop a FITS file, see an error shown as text; saves page.png.
//   node page.mjs URL "HH:MM:SS.sss +DD:MM:SS.ss" CUTOUT.fits OUT_DIR ROWS
// ROWS: the galaxies the service holds (the page's header and an out-of-range error name it).
import { chromium } from "playwright-core";
import { readFileSync } from "node:fs";
import assert from "node:assert/strict";

const [url, position, fitsPath, outDir, rowsArg] = process.argv.slice(2);
const rows = Number(rowsArg);
assert.ok(rows > 0, `ROWS must be a positive count, got "${rowsArg}"`);
const browser = await chromium.launch({
  executablePath: "/usr/bin/chromium",
  args: ["--headless", "--no-sandbox", "--disable-gpu"],
});
let failed = false;
try {
  const page = await browser.newPage({ acceptDownloads: true, viewport: { width: 1280, height: 900 } });
  const consoleErrors = [];
  page.on("pageerror", e => consoleErrors.push(String(e)));
  await page.goto(url);
  await page.waitForSelector("body[data-state=ready]");
  assert.match(await page.textContent("#about"), new RegExp(`\\b${rows} galaxies`));

  // Nothing loaded from elsewhere: every request went to the service.
  const origins = new Set();
  page.on("request", r => origins.add(new URL(r.url()).origin));

  // A position (sexagesimal) -> the query tile and 8 neighbour tiles.
  const n = 8;
  await page.selectOption("#count", String(n));
  await page.fill("#exclude", "0");
  await page.fill("#query", position);
  await page.click("#search");
  await page.waitForSelector("body[data-state=done]");
  assert.match(await page.textContent("#query-caption"), /\(row 5\)/);
  const allLoaded = async () => page.waitForFunction(count => {
    const imgs = [...document.querySelectorAll("#grid .tile img")];
    const q = document.getElementById("query-tile");
    return imgs.length === count && imgs.every(i => i.complete && i.naturalWidth > 0) &&
      q.complete && q.naturalWidth > 0;
  }, n);
  await allLoaded();
  assert.equal(await page.locator("#table tbody tr").count(), n);
  // The galaxy itself is its own nearest neighbour (no duplicate suppression asked).
  assert.equal(await page.textContent("#table tbody tr:first-child td:nth-child(2)"), "5");
  await page.screenshot({ path: `${outDir}/page.png`, fullPage: true });

  // CSV download.
  const [download] = await Promise.all([page.waitForEvent("download"), page.click("#csv")]);
  const csv = readFileSync(await download.path(), "utf8").trim().split("\n");
  assert.match(csv[0], /^rank,row,cosine,/);
  assert.equal(csv.length, n + 1);
  assert.match(csv[1], /^1,5,/);

  // Click a neighbour: its own neighbours.
  const second = await page.textContent("#table tbody tr:nth-child(2) td:nth-child(2)");
  await page.evaluate(() => { document.body.dataset.state = "clicking"; });
  await page.click("#grid .tile:nth-child(2)");
  await page.waitForSelector("body[data-state=done]");
  assert.match(await page.textContent("#query-caption"), new RegExp(`^row ${second}$`));
  assert.equal(await page.textContent("#table tbody tr:first-child td:nth-child(2)"), second);
  await allLoaded();

  // Drop a FITS cutout of row 9: it finds row 9 first.
  const bytes = readFileSync(fitsPath).toString("base64");
  await page.evaluate(() => { document.body.dataset.state = "dropping"; });
  await page.evaluate(b64 => {
    const raw = Uint8Array.from(atob(b64), c => c.charCodeAt(0));
    const dt = new DataTransfer();
    dt.items.add(new File([raw], "row9.fits", { type: "application/fits" }));
    document.getElementById("drop").dispatchEvent(new DragEvent("drop", { dataTransfer: dt, bubbles: true, cancelable: true }));
  }, bytes);
  await page.waitForSelector("body[data-state=done]");
  assert.equal(await page.textContent("#query-caption"), "upload");
  assert.equal(await page.textContent("#table tbody tr:first-child td:nth-child(2)"), "9");
  assert.equal(await page.locator("#grid .tile").count(), n);

  // Errors are text on the page, never a blank page.
  await page.fill("#query", "row 99999");
  await page.evaluate(() => { document.body.dataset.state = "typing"; });
  await page.click("#search");
  await page.waitForSelector("body[data-state=error]");
  assert.match(await page.textContent("#error"), new RegExp(`row 99999: the service has rows 0 to ${rows - 1}\\b`));
  await page.fill("#query", "nonsense words here");
  await page.click("#search");
  assert.match(await page.textContent("#error"), /is not RA Dec/);

  for (const o of origins) assert.equal(o, new URL(url).origin, `a request left the service: ${o}`);
  assert.deepEqual(consoleErrors, []);
  console.log(`page test passed: position, ${n} tiles, CSV, neighbour click, FITS drop, errors`);
} catch (e) {
  failed = true;
  console.error("page test failed:", e);
} finally {
  await browser.close();
}
process.exit(failed ? 1 : 0);
