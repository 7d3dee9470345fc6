// The dashboard as a person uses it, in Debian's Chromium driven by playwright-core.
// Started by lyra/tests/app.rs (`the_dashboard_in_chromium`), which brings the product up on
// a generated bank and passes, in LYRA_BROWSER_TEST, the address, a login and the KPIs it
// computed with SQL. Screenshots of every page go to `artifacts`.

import { chromium } from "playwright-core";
import { readFile } from "node:fs/promises";
import assert from "node:assert/strict";

const input = JSON.parse(process.env.LYRA_BROWSER_TEST ?? "{}");
const { base, email, password, expected, artifacts } = input;

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
  args: [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
  ],
});
const context = await browser.newContext({
  viewport: { width: 1280, height: 900 },
  locale: "en-GB",
  acceptDownloads: true,
});
const page = await context.newPage();
const step = (name) => console.log(`- ${name}`);

async function kpi(name) {
  const value = await page.getAttribute(`.kpi[data-kpi="${name}"] .value`, "data-value");
  return Number(value);
}

async function checkKpis(range) {
  for (const name of ["revenue", "transactions", "customers"]) {
    assert.equal(await kpi(name), expected[range][name], `${name} over ${range} days`);
  }
}

try {
  step("log in");
  await page.goto(`${base}/`);
  assert.match(page.url(), /\/login\?next=/);
  await page.fill("input[name=email]", email);
  await page.fill("input[name=password]", "not-the-password-1");
  await page.click("form.login button[type=submit]");
  assert.match(await page.textContent("main"), /Wrong e-mail or password/);
  await page.fill("input[name=email]", email);
  await page.fill("input[name=password]", password);
  await page.click("form.login button[type=submit]");
  await page.waitForURL(`${base}/`);
  const cookies = await context.cookies();
  const session = cookies.find((c) => c.name === "__Host-lyra-access");
  assert.ok(session && session.httpOnly && session.secure && session.sameSite === "Lax", "session cookie");

  step("overview KPIs equal SQL (30 days)");
  assert.equal(await page.textContent("h1"), "Overview");
  await checkKpis("30");

  step("change the range (the controls apply on change) and the comparison");
  await Promise.all([page.waitForURL(/range=7/), page.selectOption("select[name=range]", "7")]);
  await checkKpis("7");
  await Promise.all([page.waitForURL(/compare=last_year/), page.selectOption("select[name=compare]", "last_year")]);
  const period = await page.textContent("#period");
  assert.ok(period.includes(input.last_year_to), `comparison a year earlier: ${period}`);
  await checkKpis("7");
  await page.screenshot({ path: `${artifacts}/overview.png`, fullPage: true });

  step("download a CSV and check its contents");
  const [download] = await Promise.all([
    page.waitForEvent("download"),
    page.click("main > p.downloads a.csv"),
  ]);
  const csv = await readFile(await download.path(), "utf8");
  const lines = csv.trim().split(/\r?\n/);
  assert.match(lines[0], /^kpi,unit,value/);
  const revenue = lines.find((l) => l.startsWith("revenue,"));
  assert.ok(revenue.includes(`,${expected["7"].revenue},`), revenue);
  assert.match(download.suggestedFilename(), /\.csv$/);

  step("open every page from the navigation");
  const pages = [
    ["Customers", "customers"], ["Categories", "categories"], ["Competitors", "competitors"],
    ["Forecast", "forecast"], ["Settings", "settings"],
  ];
  for (const [title, name] of pages) {
    await Promise.all([page.waitForURL(new RegExp(`/${name}`)), page.click(`header nav >> text=${title}`)]);
    assert.equal(await page.textContent("h1"), title);
    if (name !== "settings") {
      const charts = await page.locator("svg.chart[role=img] title").count();
      assert.ok(charts > 0, `${name}: charts with titles`);
      const sections = await page.locator("section.card").count();
      const downloads = await page.locator("section.card p.downloads a.csv").count();
      assert.ok(downloads >= sections, `${name}: a CSV under every chart and table`);
    }
    await page.screenshot({ path: `${artifacts}/${name}.png`, fullPage: true });
  }
  // The controls travel between pages.
  await page.click("header nav >> text=Customers");
  assert.match(page.url(), /range=7/);
  assert.match(page.url(), /compare=last_year/);
  // Figures withheld for privacy are explained.
  const withheld = await page.locator("a.withheld").count();
  if (withheld > 0) {
    const explained = await page.locator("footer.privacy li").count();
    assert.ok(explained > 0, "withheld figures have explanations");
  }

  step("switch language");
  await page.click("button[name=lang][value=ru]");
  await page.waitForLoadState();
  assert.equal(await page.textContent("h1"), "Клиенты");
  assert.equal(await page.getAttribute("html", "lang"), "ru");
  assert.match(await page.textContent("header nav"), /Обзор/);

  step("dark theme");
  await page.click("button[name=theme][value=dark]");
  await page.waitForLoadState();
  assert.equal(await page.getAttribute("html", "data-theme"), "dark");
  const background = await page.evaluate(() => getComputedStyle(document.body).backgroundColor);
  const [r, g, b] = background.match(/\d+/g).map(Number);
  assert.ok(r + g + b < 150, `dark background: ${background}`);
  await page.screenshot({ path: `${artifacts}/customers-dark-ru.png`, fullPage: true });
  await page.click("button[name=theme][value=auto]");
  await page.click("button[name=lang][value=en]");
  await page.waitForLoadState();

  step("a phone");
  await page.setViewportSize({ width: 390, height: 844 });
  await page.goto(`${base}/`);
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  assert.ok(overflow <= 1, `no sideways scrolling on a phone (${overflow}px)`);
  await page.screenshot({ path: `${artifacts}/overview-phone.png`, fullPage: true });
  await page.setViewportSize({ width: 1280, height: 900 });

  step("log out");
  await page.click("form[action='/logout'] button");
  await page.waitForURL(/\/login/);
  await page.goto(`${base}/`);
  assert.match(page.url(), /\/login/);
  assert.equal((await context.cookies()).some((c) => c.name === "__Host-lyra-access"), false);

  console.log("all browser checks passed");
} catch (e) {
  await page.screenshot({ path: `${artifacts}/failure.png`, fullPage: true }).catch(() => {});
  console.error(e);
  process.exitCode = 1;
} finally {
  await browser.close();
}
