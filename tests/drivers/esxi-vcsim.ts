// Test fixtures for the ESXi driver: the shared vcsim (a standalone ESXi simulator), a private
// vcsim a test may kill, govc for changes made outside the driver, and vcsim's certificate
// thumbprint read over TLS so the driver's connection is pinned like a real host's.
import { execFile, spawn, type ChildProcess } from "node:child_process";
import { once } from "node:events";
import { connect } from "node:tls";
import { promisify } from "node:util";
import type { Credentials, HostConnection } from "../../drivers/contract/index.ts";
import type { EsxiTlsSettings } from "../../drivers/esxi/driver.ts";
import { readInventory } from "../../drivers/esxi/inventory.ts";
import { VimClient } from "../../drivers/esxi/vim25/client.ts";
import { retrieve } from "../../drivers/esxi/vim25/property-collector.ts";
import { readThumbprint } from "../../drivers/esxi/vim25/tls.ts";
import { toolchain } from "../../src/local/toolchain.ts";
import { requireVcsim, vcsimUrl } from "../harness/services.ts";

const run = promisify(execFile);

/** vcsim accepts any user and password unless started with -username/-password. */
export const anyCredentials: Credentials = { username: "omnivisor", password: "vcsim-any" };

/** A HostConnection to vcsim at `url`, pinned to the certificate it serves right now. */
export async function pinnedHost(url: string): Promise<HostConnection> {
  const u = new URL(url);
  // Written as the Host resource takes it (AA:BB:..., as ESXi shows it).
  const hex = await readThumbprint(u.hostname, Number(u.port));
  const tls: EsxiTlsSettings = { thumbprint: hex.match(/../g)!.join(":") };
  return { endpoint: url, tls };
}

export async function sharedVcsim(): Promise<HostConnection> {
  await requireVcsim();
  await requireAnswersVim25(vcsimUrl);
  return pinnedHost(vcsimUrl);
}

/**
 * vcsim can deadlock (govmomi 0.46.3 lock ordering) and still answer /about, which is all the
 * harness probes; read the inventory with a deadline so such a vcsim fails the tests at once,
 * by name, instead of hanging them.
 */
async function requireAnswersVim25(url: string): Promise<void> {
  const client = new VimClient({ url, trust: { insecure: true }, username: "probe", password: "probe" });
  try {
    const signal = AbortSignal.timeout(10_000);
    await client.connect(signal);
    const inventory = await readInventory(client, signal);
    await retrieve(client, "VirtualMachine", ["name"], { vmsOf: inventory.datacenter }, signal);
  } catch (err) {
    throw new Error(
      `required host service vcsim (${url}) accepts connections but does not answer vim25 calls (${String(err)}); ` +
        "it may be deadlocked — restart it: make services-stop && make services",
    );
  } finally {
    await client.close();
  }
}

/** The PEM of the certificate a TLS server presents (used as the CA a Host trusts). */
export function serverCertificatePem(url: string): Promise<string> {
  const u = new URL(url);
  return new Promise((resolve, reject) => {
    const socket = connect({ host: u.hostname, port: Number(u.port), rejectUnauthorized: false }, () => {
      const der = socket.getPeerCertificate().raw;
      socket.end();
      resolve(`-----BEGIN CERTIFICATE-----\n${der.toString("base64").replace(/.{64}/g, "$&\n")}\n-----END CERTIFICATE-----\n`);
    });
    socket.once("error", reject);
  });
}

/** govc against `url`, for acting on the host outside the driver (govc's own TLS check is off: it is test tooling). */
export async function govc(url: string, args: string[]): Promise<string> {
  const u = new URL(url);
  u.username = "govc";
  u.password = "govc";
  const { stdout } = await run(toolchain().govc, args, {
    env: { ...process.env, GOVC_URL: u.href, GOVC_INSECURE: "1", GOVC_PERSIST_SESSION: "false" },
    timeout: 60_000, // a hung simulator fails the test instead of leaving govc behind
  });
  return stdout;
}

/** The moref value (the driver's externalId) of a VM, by inventory path or name. */
export async function vmExternalId(url: string, name: string): Promise<string> {
  const out = JSON.parse(await govc(url, ["vm.info", "-json", name])) as { virtualMachines: { self: { value: string } }[] | null };
  const vm = out.virtualMachines?.[0];
  if (!vm) throw new Error(`govc finds no VM ${name}`);
  return vm.self.value;
}

/** The inventory path of a VM by moref, for govc commands. */
export async function vmPath(url: string, externalId: string): Promise<string | undefined> {
  const out = await govc(url, ["ls", "-L", `VirtualMachine:${externalId}`]).catch(() => "");
  return out.trim() || undefined;
}

/**
 * A vcsim of our own on a free loopback port, for tests that kill it. It runs with -stdinexit,
 * so it also ends when this process dies (its stdin closes).
 */
export class PrivateVcsim {
  readonly url: string;
  readonly #child: ChildProcess;

  private constructor(url: string, child: ChildProcess) {
    this.url = url;
    this.#child = child;
  }

  static async start(extraArgs: string[] = []): Promise<PrivateVcsim> {
    const child = spawn(toolchain().vcsim, ["-esx", "-l", "127.0.0.1:0", "-E", "-", "-stdinexit", ...extraArgs], { stdio: ["pipe", "pipe", "ignore"] });
    let out = "";
    child.stdout.setEncoding("utf8");
    const url = await new Promise<string>((resolve, reject) => {
      child.stdout.on("data", (chunk: string) => {
        out += chunk;
        const m = /GOVC_URL=(\S+)/.exec(out);
        if (m) resolve(m[1]!);
      });
      child.once("exit", (code) => reject(new Error(`private vcsim exited (${code}) before it served: ${out}`)));
      child.once("error", reject);
    });
    const u = new URL(url);
    u.username = "";
    u.password = "";
    return new PrivateVcsim(u.href, child);
  }

  /** Kills it at once, as a crashed or unplugged host. */
  async kill(): Promise<void> {
    if (this.#child.exitCode !== null || this.#child.signalCode !== null) return;
    const exited = once(this.#child, "exit");
    this.#child.kill("SIGKILL");
    await exited;
  }
}
