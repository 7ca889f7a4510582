// Checks that a host service the tests need is up. A missing service fails the test with a
// message naming it and how to start it — never a silent skip.
import { execFile } from "node:child_process";
import { readFileSync } from "node:fs";
import { get as httpsGet } from "node:https";
import { join } from "node:path";
import { promisify } from "node:util";
import { repoRoot, toolchain } from "../../src/local/toolchain.ts";

const run = promisify(execFile);
const hint = "start host services with `make services` (scripts/host-services.sh)";

async function check(name: string, probe: () => Promise<unknown>): Promise<void> {
  try {
    await probe();
  } catch (err) {
    const e = err as { stderr?: string; message: string };
    throw new Error(`required host service ${name} is not available: ${(e.stderr || e.message).trim()} — ${hint}`);
  }
}

export const libvirtUri = "qemu:///system";
export const dockerSocket = "/var/run/docker.sock";
export const vcsimUrl = `https://${process.env["VCSIM_ADDR"] ?? "127.0.0.1:8989"}/sdk`;

/**
 * libvirtd answers, and how its domains run here: `virtType` kvm where /dev/kvm is full KVM, qemu
 * (TCG) where it is kvm_pvm or unknown (ADR 0003).
 */
export async function requireLibvirt(): Promise<{ accelerator: string; virtType: "kvm" | "qemu" }> {
  await check("libvirtd (qemu:///system)", () => run("virsh", ["-c", libvirtUri, "version"]));
  let accelerator = "unknown";
  try {
    accelerator = readFileSync(join(toolchain().cache, "services", "libvirt-accel"), "utf8").trim();
  } catch {
    /* reported by host-services.sh; unknown when it was not run */
  }
  return { accelerator, virtType: accelerator.startsWith("KVM") && !accelerator.includes("kvm_pvm") ? "kvm" : "qemu" };
}

export async function requireDocker(): Promise<void> {
  await check(`dockerd (${dockerSocket})`, () => run("docker", ["-H", `unix://${dockerSocket}`, "info"]));
  await check("docker image busybox:local", () => run("docker", ["-H", `unix://${dockerSocket}`, "image", "inspect", "busybox:local"]));
}

export async function requireVcsim(): Promise<void> {
  // vcsim serves a self-signed certificate; this reachability probe does not verify it
  // (the ESXi driver's own tests pin vcsim's certificate).
  await check(`vcsim (${vcsimUrl})`, () =>
    new Promise<void>((resolve, reject) => {
      const req = httpsGet(vcsimUrl.replace(/\/sdk$/, "/about"), { rejectUnauthorized: false, timeout: 3_000 }, (res) => {
        res.resume();
        if (res.statusCode === 200) resolve();
        else reject(new Error(`HTTP ${res.statusCode}`));
      });
      req.on("timeout", () => req.destroy(new Error("no answer within 3 s")));
      req.on("error", reject);
    }),
  );
}

/** vcsim can deadlock and still answer /about: an inventory listing must come back too. */
export async function requireLiveVcsim(): Promise<void> {
  await requireVcsim();
  const addr = new URL(vcsimUrl).host;
  await check(`vcsim inventory at ${vcsimUrl} (deadlocked? restart it: make services)`, () =>
    run(toolchain().govc, ["ls", "-u", `https://user:pass@${addr}/sdk`, "-k", "/ha-datacenter/vm"], { timeout: 5_000 }),
  );
}

export function tinyVmImage(): { kernel: string; initrd: string; disk: string } {
  const dir = join(toolchain().cache, "images", "tiny-vm");
  let built: string;
  try {
    built = readFileSync(join(dir, ".ok"), "utf8").trim();
  } catch {
    throw new Error(`required tiny VM image is missing in ${dir} — ${hint}`);
  }
  // an image of another version lacks what the tests expect of it (e.g. before version 3: no cloud-init seed reader)
  const wanted = /^version=(\d+)$/m.exec(readFileSync(join(repoRoot, "scripts", "tiny-vm.sh"), "utf8"))?.[1];
  if (wanted !== undefined && built !== wanted) throw new Error(`the tiny VM image in ${dir} is version ${built || "1"}, scripts/tiny-vm.sh builds version ${wanted} — ${hint}`);
  return { kernel: join(dir, "vmlinuz"), initrd: join(dir, "initrd.img"), disk: join(dir, "disk.qcow2") };
}

/** The idle VM image (scripts/idle-vm.sh): a base disk and a kernel that halts; costs no CPU to run. */
export function idleVmImage(): { kernel: string; disk: string } {
  const dir = join(toolchain().cache, "images", "idle-vm");
  try {
    readFileSync(join(dir, ".ok"));
  } catch {
    throw new Error(`required idle VM image is missing in ${dir} — ${hint}`);
  }
  return { kernel: join(dir, "vmlinuz"), disk: join(dir, "disk.qcow2") };
}
