// Scenario: the host services every later test relies on are real and usable — libvirtd boots the
// tiny VM under KVM (or TCG) to a known state, dockerd runs the imported busybox image, and vcsim
// answers as a standalone ESXi host. A missing service fails with a message naming it.
import { execFile } from "node:child_process";
import { readFileSync, rmSync } from "node:fs";
import { writeFile } from "node:fs/promises";
import { request } from "node:https";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";
import { waitFor } from "../../src/local/wait.ts";
import { libvirtUri, requireDocker, requireLibvirt, requireLiveVcsim, tinyVmImage, vcsimUrl } from "../harness/services.ts";

const run = promisify(execFile);

describe("libvirtd with QEMU", () => {
  it("boots the tiny VM to its ready banner and destroys it", async () => {
    await requireLibvirt();
    const image = tinyVmImage();
    const name = `foundation-tiny-${process.pid}`;
    const console = join(tmpdir(), `${name}.console.log`);
    // TCG: on this machine's nested KVM (kvm_pvm) a stock kernel is emulated and boots slower
    // than under TCG; see docs/adr/0003-tiny-vm-and-tcg.md. KVM itself is checked below.
    const type = "qemu";
    const xml = `<domain type="${type}">
  <name>${name}</name>
  <memory unit="MiB">96</memory>
  <vcpu>1</vcpu>
  <os><type arch="x86_64" machine="pc">hvm</type><kernel>${image.kernel}</kernel><initrd>${image.initrd}</initrd>
    <cmdline>console=ttyS0 quiet omnivisor.hostname=${name}</cmdline></os>
  <devices>
    <disk type="file" device="disk"><driver name="qemu" type="qcow2"/><source file="${image.disk}"/><target dev="vda" bus="virtio"/><readonly/></disk>
    <serial type="file"><source path="${console}"/><target port="0"/></serial>
  </devices>
</domain>`;
    const xmlFile = join(tmpdir(), `${name}.xml`);
    await writeFile(xmlFile, xml);
    try {
      await run("virsh", ["-c", libvirtUri, "define", xmlFile]);
      await run("virsh", ["-c", libvirtUri, "start", name]);
      const banner = await waitFor(
        "the guest to print its ready banner on the serial console",
        () => {
          const text = readFileSync(console, "utf8");
          return text.includes("omnivisor-tiny-vm: heartbeat 1") ? text : undefined;
        },
        { timeoutMs: 60_000, intervalMs: 250 },
      );
      expect(banner).toContain("omnivisor-tiny-vm: booted kernel");
      expect(banner).toContain("omnivisor-tiny-vm: disk vda 131072 sectors");
      expect(banner).toContain("omnivisor-tiny-vm: ready");
      const state = (await run("virsh", ["-c", libvirtUri, "domstate", name])).stdout.trim();
      expect(state).toBe("running");
    } finally {
      await run("virsh", ["-c", libvirtUri, "destroy", name]).catch(() => undefined);
      await run("virsh", ["-c", libvirtUri, "undefine", name]).catch(() => undefined);
      rmSync(console, { force: true });
      rmSync(xmlFile, { force: true });
    }
    const list = (await run("virsh", ["-c", libvirtUri, "list", "--all", "--name"])).stdout;
    expect(list).not.toContain(name);
  });
});

describe("libvirt storage pool", () => {
  it("holds the test images as volumes of the pool 'omnivisor', as the driver finds them on any host (ADR 0015)", async () => {
    await requireLibvirt();
    const info = (await run("virsh", ["-c", libvirtUri, "pool-info", "omnivisor"]).catch(() => ({ stdout: "" }))).stdout;
    expect(info, "storage pool omnivisor is missing: run make services").toMatch(/State:\s+running/);
    const volumes = (await run("virsh", ["-q", "-c", libvirtUri, "vol-list", "omnivisor"])).stdout.split("\n").map((l) => l.trim().split(/\s+/)[0]);
    expect(volumes).toEqual(expect.arrayContaining(["tiny-vm.qcow2", "tiny-vm.vmlinuz", "tiny-vm.initrd", "idle-vm.qcow2", "idle-vm.vmlinuz"]));
    // the base disks are recognised as qcow2 (by their header), so overlays get their virtual size
    expect((await run("virsh", ["-c", libvirtUri, "vol-dumpxml", "--pool", "omnivisor", "tiny-vm.qcow2"])).stdout).toContain("<format type='qcow2'/>");
  });
});

describe("libvirtd with KVM", () => {
  it("starts a KVM domain when /dev/kvm is usable", async () => {
    const { accelerator } = await requireLibvirt();
    if (!accelerator.startsWith("KVM")) {
      throw new Error(`libvirt reports accelerator "${accelerator}": this machine has no usable KVM`);
    }
    const name = `foundation-kvm-${process.pid}`;
    const xmlFile = join(tmpdir(), `${name}.xml`);
    await writeFile(xmlFile, `<domain type="kvm"><name>${name}</name><memory unit="MiB">64</memory><vcpu>1</vcpu>
  <os><type arch="x86_64" machine="pc">hvm</type></os></domain>`);
    try {
      await run("virsh", ["-c", libvirtUri, "create", xmlFile, "--paused"]);
      const info = (await run("virsh", ["-c", libvirtUri, "dominfo", name])).stdout;
      expect(info).toMatch(/State:\s+paused/);
      await run("virsh", ["-c", libvirtUri, "resume", name]);
      expect((await run("virsh", ["-c", libvirtUri, "domstate", name])).stdout.trim()).toBe("running");
    } finally {
      await run("virsh", ["-c", libvirtUri, "destroy", name]).catch(() => undefined);
      rmSync(xmlFile, { force: true });
    }
  });
});

describe("dockerd", () => {
  it("runs a container from the imported busybox:local image", async () => {
    await requireDocker();
    const { stdout } = await run("docker", ["run", "--rm", "--init", "busybox:local", "sh", "-c", "echo hello-from-$(uname -s)"]);
    expect(stdout.trim()).toBe("hello-from-Linux");
  });
});

describe("vcsim", () => {
  it("answers the vim25 SOAP API as a standalone ESXi host (HostAgent)", async () => {
    await requireLiveVcsim();
    const envelope = `<?xml version="1.0" encoding="UTF-8"?>
<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" xmlns:vim25="urn:vim25">
<soapenv:Body><vim25:RetrieveServiceContent><vim25:_this type="ServiceInstance">ServiceInstance</vim25:_this></vim25:RetrieveServiceContent></soapenv:Body>
</soapenv:Envelope>`;
    // vcsim's certificate is self-signed; the ESXi driver's own tests pin it.
    const body = await new Promise<string>((resolve, reject) => {
      const req = request(new URL(vcsimUrl), {
        method: "POST",
        rejectUnauthorized: false,
        headers: { "content-type": "text/xml; charset=utf-8", SOAPAction: '"urn:vim25/6.5"' },
      }, (res) => {
        let text = "";
        res.setEncoding("utf8");
        res.on("data", (c: string) => (text += c));
        res.on("end", () => resolve(text));
      });
      req.on("error", reject);
      req.end(envelope);
    });
    expect(body).toContain("<apiType>HostAgent</apiType>");
  });
});
