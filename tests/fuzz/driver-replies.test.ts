// Scenario: a hypervisor endpoint that answers badly — replies truncated, bytes flipped, emptied,
// junk, doubled, cut off mid-connection, wrong HTTP status — put between each HTTP driver and its
// hypervisor (FAKE XAPI, FAKE WinRM, a private vcsim) by a mutating proxy (tests/harness). Every
// driver call ends, within its time, either well or with the contract's typed error saying what
// was wrong; nothing is thrown untyped, nothing hangs, no promise rejection goes unhandled, and no
// credential appears in an error. (libvirt's RPC decoder has its own 10,000-packet fuzz test.)
import { randomUUID } from "node:crypto";
import { afterAll, describe, expect, it } from "vitest";
import { isDriverError, type Credentials, type Driver, type HostConnection } from "../../drivers/contract/index.ts";
import { EsxiDriver } from "../../drivers/esxi/driver.ts";
import { HyperVDriver } from "../../drivers/hyperv/driver.ts";
import { XenServerDriver } from "../../drivers/xenserver/driver.ts";
import { PrivateVcsim } from "../drivers/esxi-vcsim.ts";
import { FakeWinrmServer } from "../fakes/winrm/server.ts";
import { FakeXapiServer } from "../fakes/xapi/server.ts";
import { requireVcsim } from "../harness/services.ts";
import { MutatingProxy } from "../harness/mutating-proxy.ts";

const rounds = 150;
const unhandled: unknown[] = [];
const onUnhandled = (reason: unknown): void => void unhandled.push(reason);
process.on("unhandledRejection", onUnhandled);
const cleanups: (() => Promise<void>)[] = [];
afterAll(async () => {
  process.off("unhandledRejection", onUnhandled);
  for (const c of cleanups.reverse()) await c().catch(() => undefined);
});

interface Outcome {
  ok: number;
  typed: number;
  untyped: string[];
  leaked: string[];
}

function withDeadline<T>(work: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`HUNG: ${what} did not end within ${ms} ms`)), ms)));
  return Promise.race([work, deadline]).finally(() => clearTimeout(timer));
}

/** `rounds` times: connect through the proxy, observe the host, list VMs, look one up, close. */
async function fuzz(driver: Driver, host: HostConnection, credentials: Credentials, secret: string, proxy: MutatingProxy): Promise<Outcome> {
  const outcome: Outcome = { ok: 0, typed: 0, untyped: [], leaked: [] };
  // first with nothing spoiled: the proxy alone changes nothing
  proxy.enabled = false;
  for (let i = 0; i < 3; i++) {
    const session = await driver.connect(host, credentials, AbortSignal.timeout(5_000));
    await session.observeHost();
    await session.listVms();
    await session.close();
  }
  proxy.enabled = true;
  for (let i = 0; i < rounds; i++) {
    const round = async (): Promise<void> => {
      const session = await driver.connect(host, credentials, AbortSignal.timeout(5_000));
      try {
        await session.observeHost();
        await session.listVms();
        await session.observeVm({ uid: randomUUID(), name: `fuzz-${i}` });
      } finally {
        await session.close().catch(() => undefined);
      }
    };
    try {
      await withDeadline(round(), 30_000, `round ${i}`);
      outcome.ok++;
    } catch (err) {
      const text = err instanceof Error ? `${err.name}: ${err.message}` : String(err);
      if (text.includes(secret)) outcome.leaked.push(text);
      if (isDriverError(err) && err.message.length > 0) outcome.typed++;
      else outcome.untyped.push(`round ${i}: ${text}`);
    }
  }
  return outcome;
}

function judge(name: string, outcome: Outcome, proxy: MutatingProxy): void {
  const spoiled = [...proxy.counts.entries()].filter(([m]) => m !== "none").reduce((n, [, c]) => n + c, 0);
  console.log(`${name}: ${rounds} rounds — ${outcome.ok} ok, ${outcome.typed} typed errors, ${outcome.untyped.length} untyped; replies spoiled ${spoiled} (${[...proxy.counts.entries()].map(([m, c]) => `${m} ${c}`).join(", ")})`);
  expect(outcome.untyped, `${name}: errors outside the driver contract`).toEqual([]);
  expect(outcome.leaked, `${name}: a credential in an error`).toEqual([]);
  expect(unhandled.map(String), `${name}: unhandled rejections`).toEqual([]);
  expect(spoiled, `${name}: the proxy spoiled replies`).toBeGreaterThan(rounds / 4);
  expect(outcome.typed, `${name}: spoiled replies became typed errors`).toBeGreaterThan(0);
  expect(outcome.ok, `${name}: rounds with nothing spoiled still succeed`).toBeGreaterThan(0);
}

describe("drivers against an endpoint that answers badly (mutating proxy)", () => {
  it("xenserver (FAKE XAPI): every call ends well or with a typed error", async () => {
    const credentials = { username: "root", password: "fuzz-Xapi-Secret-1" };
    const fake = await FakeXapiServer.start({ ...credentials, host: { cpus: 4, memoryGiB: 8 } });
    cleanups.push(() => fake.stop());
    const proxy = await MutatingProxy.start({ target: fake.url, tls: false, rate: 0.1, seed: 1 });
    cleanups.push(() => proxy.stop());
    judge("xenserver", await fuzz(new XenServerDriver(), { endpoint: proxy.url }, credentials, credentials.password, proxy), proxy);
  }, 300_000);

  it("hyperv (FAKE WinRM): every call ends well or with a typed error", async () => {
    const credentials = { username: "Administrator", password: "fuzz-WinRM-Secret-2" };
    const fake = await FakeWinrmServer.start(credentials);
    cleanups.push(() => fake.stop());
    const proxy = await MutatingProxy.start({ target: fake.url, tls: true, rate: 0.1, seed: 2 });
    cleanups.push(() => proxy.stop());
    judge("hyperv", await fuzz(new HyperVDriver(), { endpoint: proxy.url, tls: { caPem: proxy.certPem! } }, credentials, credentials.password, proxy), proxy);
  }, 300_000);

  it("esxi (private vcsim, vim25): every call ends well or with a typed error", async () => {
    await requireVcsim();
    const vcsim = await PrivateVcsim.start();
    cleanups.push(() => vcsim.kill());
    const proxy = await MutatingProxy.start({ target: vcsim.url, tls: true, rate: 0.1, seed: 3 });
    cleanups.push(() => proxy.stop());
    const credentials = { username: "omnivisor", password: "fuzz-Vim25-Secret-3" };
    judge("esxi", await fuzz(new EsxiDriver(), { endpoint: proxy.url, tls: { caPem: proxy.certPem! } }, credentials, credentials.password, proxy), proxy);
  }, 300_000);
});
