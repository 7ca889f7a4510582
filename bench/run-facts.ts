// What a benchmark ran on: cores, memory, KVM or TCG, and the versions of everything measured.
// Printed at the top of every run and stored with its results.
import { execFileSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { cpus, totalmem } from "node:os";
import { join } from "node:path";
import { parseVersions, repoRoot } from "../src/local/toolchain.ts";

const quiet = (cmd: string, args: string[]): string => {
  try {
    return execFileSync(cmd, args, { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] }).trim();
  } catch {
    return "unavailable";
  }
};

export interface RunFacts {
  date: string;
  cores: number;
  cpuModel: string;
  memoryGiB: number;
  kvm: string;
  versions: Record<string, string>;
}

export function runFacts(): RunFacts {
  const pins = parseVersions(readFileSync(join(repoRoot, "scripts", "versions.sh"), "utf8"), process.env);
  const kvm = existsSync("/dev/kvm")
    ? `KVM (/dev/kvm${["kvm_pvm", "kvm_intel", "kvm_amd"].filter((m) => existsSync(`/sys/module/${m}`)).map((m) => `, ${m}`).join("")})${existsSync("/sys/module/kvm_pvm") ? ": domains start under KVM, guests that must boot use TCG (ADR 0003)" : ""}`
    : "TCG only (no /dev/kvm)";
  return {
    date: new Date().toISOString(),
    cores: cpus().length,
    cpuModel: cpus()[0]?.model ?? "unknown",
    memoryGiB: Math.round(totalmem() / 2 ** 30),
    kvm,
    versions: {
      node: process.versions.node,
      kubernetes: pins["KUBE_VERSION"] ?? "?",
      etcd: pins["ETCD_VERSION"] ?? "?",
      libvirt: quiet("libvirtd", ["--version"]).replace(/^.*\s/, ""),
      qemu: quiet("qemu-system-x86_64", ["--version"]).split("\n")[0]?.replace(/^QEMU emulator version /, "") ?? "?",
      docker: quiet("docker", ["version", "--format", "{{.Server.Version}}"]),
    },
  };
}

export function factsMarkdown(f: RunFacts): string {
  return [
    `Machine: ${f.cores} cores (${f.cpuModel}), ${f.memoryGiB} GiB, ${f.kvm}.`,
    `Versions: ${Object.entries(f.versions).map(([k, v]) => `${k} ${v}`).join(", ")}. Run at ${f.date}.`,
  ].join("\n");
}
