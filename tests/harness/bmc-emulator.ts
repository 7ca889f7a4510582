// sushy-tools' Redfish emulator (PyPI, installed by scripts/bmc-emulators.sh into a venv under the
// cache) serving one fake system over HTTPS with basic auth: the reference the Redfish fencing
// client is tested against. Its fake driver needs no libvirt; its power changes land 1–11 s after
// a reset (sushy's own delay), so it shows the client polls until Off — not how fast.
import { execFile, spawn } from "node:child_process";
import { randomBytes, randomUUID } from "node:crypto";
import { existsSync, readFileSync } from "node:fs";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
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

function venv(): string {
  const version = /^SUSHY_TOOLS_VERSION=(\S+)$/m.exec(readFileSync(join(repoRoot, "scripts", "versions.sh"), "utf8"))?.[1];
  const path = join(toolchain().cache, `bmc-venv-sushy-${version ?? "?"}`);
  if (!existsSync(join(path, ".ok"))) {
    throw new Error(`required BMC emulator sushy-tools ${version ?? "?"} is not installed at ${path} — run \`make services\` (scripts/bmc-emulators.sh)`);
  }
  return path;
}

export async function startRedfishEmulator(options: { powerState?: "On" | "Off" } = {}): Promise<RedfishEmulator> {
  const bin = venv();
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
