// Opens the dashboard page in headless Chromium and watches it the way a person would:
// a metric's counter and chart change while rows are inserted, and an alert appears.
//
//   node dashboard.mjs <page url> <metric> <screenshot path>
//
// Prints one JSON line per step ("ready" once the page is loaded, then the result) so
// the test driving the database knows when to start inserting. Exits 1 with a reason
// when something the test waits for does not happen in time.
import { chromium } from "playwright-core";

const [url, metric, screenshot] = process.argv.slice(2);
const say = (o) => process.stdout.write(JSON.stringify(o) + "\n");
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
  ],
});
let failed = null;
try {
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  const errors = [];
  page.on("pageerror", (e) => errors.push(String(e)));
  await page.goto(url);
  const card = page.locator(`.card[data-metric="${metric}"]`);
  await card.waitFor({ timeout: 30000 });
  await page.waitForFunction(() => document.getElementById("status").textContent === "live", null, { timeout: 30000 });
  const read = () => page.evaluate((m) => {
    const el = document.querySelector(`.card[data-metric="${m}"]`);
    const canvas = el.querySelector("canvas");
    return {
      value: el.querySelector(".current").dataset.value,
      text: el.querySelector(".current").textContent,
      points: Number(canvas.dataset.points || 0),
      version: Number(canvas.dataset.version || 0),
      alerts: document.querySelectorAll("#alerts li").length,
    };
  }, metric);
  const before = await read();
  say({ step: "ready", before });
  // The counter changes: the test inserts rows now.
  await page.waitForFunction(([m, v]) => {
    const el = document.querySelector(`.card[data-metric="${m}"] .current`);
    return el && el.dataset.value !== "" && el.dataset.value !== v;
  }, [metric, before.value], { timeout: 60000 });
  const changed = await read();
  // The chart redrew with the new windows.
  await page.waitForFunction(([m, n]) => {
    const c = document.querySelector(`.card[data-metric="${m}"] canvas`);
    return Number(c.dataset.version) > n;
  }, [metric, before.version], { timeout: 30000 });
  // An alert shows up in the feed (the rule fires once enough rows arrived).
  await page.locator("#alerts li").first().waitFor({ timeout: 90000 });
  const alert = await page.locator("#alerts li").first().textContent();
  const after = await read();
  await page.screenshot({ path: screenshot, fullPage: true });
  say({ step: "done", before, changed, after, alert, errors });
} catch (e) {
  failed = String(e);
  say({ step: "failed", reason: failed });
} finally {
  await browser.close();
}
process.exit(failed ? 1 : 0);
