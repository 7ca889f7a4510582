// sushy-tools' Redfish emulator (PyPI, installed by scripts/bmc-emulators.sh into a venv under the
// cache) serving one fake system over HTTPS with basic auth: the reference the Redfish fencing
// client is tested against. Its fake driver needs no libvirt; its power changes land 1–11 s after
// a reset (sushy's own delay), so it shows the client polls until Off — not how fast.
import { execFile, spawn } from "node:child_process";
import { randomBytes, randomUUID } from "node:crypto";
import { existsSync, readFileSync } from "node:fs";
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { freePort } from "../../src/local/ports.ts";
import { repoRoot, toolchain } from "../../src/local/toolchain.ts";

const run = promisify(execFile);

export interface RedfishEmulator {
  /** https://127.0.0.1:<port> */
  address: string;
  systemId: string;
  /** PEM of its self-signed certificate (IP SAN 127.0.0.1). */
  caPem: string;
  username: string;
  password: string;
  stop(): Promise<void>;
}

/** The BMC emulators' venv (scripts/bmc-emulators.sh), or an error saying how to get it. */
export function bmcVenv(): string {
  const versions = readFileSync(join(repoRoot, "scripts", "versions.sh"), "utf8");
  const sushy = /^SUSHY_TOOLS_VERSION=(\S+)$/m.exec(versions)?.[1] ?? "?";
  const vbmc = /^VIRTUALBMC_VERSION=(\S+)$/m.exec(versions)?.[1] ?? "?";
  const path = join(toolchain().cache, `bmc-venv-sushy-${sushy}-vbmc-${vbmc}`);
  if (!existsSync(join(path, ".ok"))) {
    throw new Error(`required BMC emulators sushy-tools ${sushy} and virtualbmc ${vbmc} are not installed at ${path} — run \`make services\` (scripts/bmc-emulators.sh)`);
  }
  return path;
}

export async function startRedfishEmulator(options: { powerState?: "On" | "Off" } = {}): Promise<RedfishEmulator> {
  const bin = bmcVenv();
  const dir = await mkdtemp(join(tmpdir(), "omni-sushy-"));
  const port = await freePort();
  const systemId = randomUUID();
  const username = "fence";
  const password = randomBytes(9).toString("base64url");
  await run("openssl", ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", join(dir, "key.pem"), "-out", join(dir, "cert.pem"), "-days", "1", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"]);
  // bcrypt cost 4: the default 12 adds ~0.3 s to every request
  const { stdout: hash } = await run(join(bin, "bin", "python"), ["-c", "import bcrypt,sys; print(bcrypt.hashpw(sys.argv[1].encode(), bcrypt.gensalt(rounds=4)).decode())", password]);
  await writeFile(join(dir, "htpasswd"), `${username}:${hash.trim()}\n`);
  const config = [
    `SUSHY_EMULATOR_LISTEN_IP = '127.0.0.1'`,
    `SUSHY_EMULATOR_LISTEN_PORT = ${port}`,
    `SUSHY_EMULATOR_SSL_CERT = '${join(dir, "cert.pem")}'`,
    `SUSHY_EMULATOR_SSL_KEY = '${join(dir, "key.pem")}'`,
    `SUSHY_EMULATOR_AUTH_FILE = '${join(dir, "htpasswd")}'`,
    `SUSHY_EMULATOR_STATE_DIR = '${join(dir, "state")}'`,
    `SUSHY_EMULATOR_FAKE_DRIVER = True`,
    `SUSHY_EMULATOR_FAKE_SYSTEMS = [{'uuid': '${systemId}', 'name': 'test-host', 'power_state': '${options.powerState ?? "On"}', 'nics': [{'mac': '00:5c:52:31:3a:9c', 'ip': '10.99.0.10'}]}]`,
  ];
  await writeFile(join(dir, "emulator.conf"), config.join("\n") + "\n");
  const child = spawn(join(bin, "bin", "sushy-emulator"), ["--config", join(dir, "emulator.conf")], { stdio: ["ignore", "ignore", "ignore"] });
  const address = `https://127.0.0.1:${port}`;
  const caPem = await readFile(join(dir, "cert.pem"), "utf8");
  const stop = async (): Promise<void> => {
    if (child.exitCode === null) {
      child.kill("SIGTERM");
      await new Promise<void>((r) => child.once("exit", () => r()));
    }
    await rm(dir, { recursive: true, force: true });
  };
  for (let i = 0; i < 100; i++) {
    const up = await run("curl", ["-sk", "-o", "/dev/null", "-w", "%{http_code}", `${address}/redfish/v1`]).then((r) => r.stdout === "200", () => false);
    if (up) return { address, systemId, caPem, username, password, stop };
    if (child.exitCode !== null) break;
    await new Promise((r) => setTimeout(r, 200));
  }
  await stop();
  throw new Error(`the sushy-tools Redfish emulator did not answer on ${address}`);
}

export interface IpmiEmulator {
  /** 127.0.0.1:<udp port> — what a Host's spec.fencing.outOfBand.address names for IPMI. */
  address: string;
  username: string;
  password: string;
  /** The libvirt domain it powers. */
  domain: string;
  stop(): Promise<void>;
}

/**
 * virtualbmc (vbmcd, PyPI): an IPMI v2.0 BMC on 127.0.0.1 fronting one libvirt domain (its power
 * commands become libvirt calls on libvirtUri). Its own daemon, control port and state directory
 * per call, so tests running at once never share one.
 */
export async function startIpmiEmulator(options: { libvirtUri: string; domain: string }): Promise<IpmiEmulator> {
  const bin = bmcVenv();
  const dir = await mkdtemp(join(tmpdir(), "omni-vbmc-"));
  const [port, controlPort] = [await freePort(), await freePort()];
  const username = "fence";
  const password = randomBytes(9).toString("base64url");
  const config = ["[default]", `config_dir = ${join(dir, "vbmcs")}`, `pid_file = ${join(dir, "vbmcd.pid")}`, `server_port = ${controlPort}`, "[log]", `logfile = ${join(dir, "vbmcd.log")}`, "debug = true"];
  await mkdir(join(dir, "vbmcs"));
  await writeFile(join(dir, "vbmc.conf"), config.join("\n") + "\n");
  const env = { ...process.env, VIRTUALBMC_CONFIG: join(dir, "vbmc.conf") };
  // a process group of its own: vbmcd runs each BMC in a child process, which goes with the group
  const daemon = spawn(join(bin, "bin", "vbmcd"), ["--foreground"], { env, stdio: ["ignore", "ignore", "ignore"], detached: true });
  const stop = async (): Promise<void> => {
    const exited = daemon.exitCode !== null || daemon.signalCode !== null ? Promise.resolve() : new Promise<void>((r) => daemon.once("exit", () => r()));
    try {
      if (daemon.pid) process.kill(-daemon.pid, "SIGKILL");
    } catch {
      // already gone
    }
    await exited;
    await rm(dir, { recursive: true, force: true });
  };
  const vbmc = (args: string[]) => run(join(bin, "bin", "vbmc"), args, { env, timeout: 10_000 });
  try {
    for (let i = 0; ; i++) {
      const up = await vbmc(["list"]).then(() => true, () => false);
      if (up) break;
      if (i > 100 || daemon.exitCode !== null) throw new Error(`virtualbmc's vbmcd did not answer on its control port ${controlPort}: ${await readFile(join(dir, "vbmcd.log"), "utf8").catch(() => "")}`);
      await new Promise((r) => setTimeout(r, 200));
    }
    // `--password=…` in one word: a random password may start with "-", which argparse would take for an option
    await vbmc(["add", options.domain, `--username=${username}`, `--password=${password}`, "--address", "127.0.0.1", "--port", String(port), "--libvirt-uri", options.libvirtUri]);
    await vbmc(["start", options.domain]);
    const address = `127.0.0.1:${port}`;
    // answering: a status read with the right credentials works
    for (let i = 0; ; i++) {
      const ok = await run("ipmitool", ["-I", "lanplus", "-H", "127.0.0.1", "-p", String(port), "-U", username, "-E", "-N", "1", "-R", "1", "chassis", "power", "status"], { env: { ...process.env, IPMI_PASSWORD: password } }).then(() => true, () => false);
      if (ok) break;
      if (i > 50) throw new Error(`virtualbmc's BMC for ${options.domain} did not answer IPMI on ${address}`);
      await new Promise((r) => setTimeout(r, 200));
    }
    return { address, username, password, domain: options.domain, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}
