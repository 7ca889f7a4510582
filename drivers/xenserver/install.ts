// Installing a VM the way `xe vm-install` does: find the template, size the clone, describe its
// disks in the provision XML and give it its NICs — all before VM.provision, which un-templates it
// and so marks the install complete.
import { NotFoundError, TerminalError, type VmSpec } from "../contract/index.ts";
import type { XapiClient } from "./client.ts";
import type { VmRecord } from "./records.ts";

/** The template a VM is cloned from when its first disk names no image: present on every host. */
export const defaultTemplate = "Other install media";
const MiB = 1024 ** 2;

export async function findTemplate(client: XapiClient, spec: VmSpec): Promise<string> {
  const name = spec.disks[0]?.image ?? defaultTemplate;
  const refs = await client.call<string[]>(`find template ${name}`, "VM.get_by_name_label", name);
  for (const ref of refs) {
    const vm = await client.call<VmRecord>("read template", "VM.get_record", ref);
    if (vm.is_a_template) return ref;
  }
  throw new NotFoundError(`xenserver: no template named ${name}`, { reason: "image-missing" });
}

/**
 * Blank disks go into the "disks" provision XML that VM.provision reads (as `xe vm-install`
 * does), on the pool's default SR; a template's own disks (an image) stay first.
 */
export async function describeDisks(client: XapiClient, ref: string, vm: VmRecord, spec: VmSpec): Promise<void> {
  const fromImage = spec.disks[0]?.image !== undefined;
  // Boot order as device order: the HVM firmware boots the disks in userdevice order, and the
  // first (device 0, bootable) is what a PV guest's boot loader reads. Disks without one come last.
  const blank = spec.disks
    .filter((d, i) => d.image === undefined && !(fromImage && i === 0))
    .map((d, i) => ({ d, i }))
    .sort((a, b) => (a.d.bootOrder ?? Infinity) - (b.d.bootOrder ?? Infinity) || a.i - b.i)
    .map(({ d }) => d);
  const existing = fromImage ? (vm.other_config["disks"] ?? "<provision></provision>") : "<provision></provision>";
  const used = (existing.match(/<disk\b/g) ?? []).length;
  const disks = blank.map((d, i) => `<disk device="${used + i}" size="${Math.ceil((d.sizeGiB ?? 10) * 1024 ** 3)}" sr="" bootable="${used + i === 0}" type="system"/>`);
  const xml = existing.replace("</provision>", `${disks.join("")}</provision>`);
  if (xml === vm.other_config["disks"]) return;
  await client.call("describe disks", "VM.remove_from_other_config", ref, "disks");
  await client.call("describe disks", "VM.add_to_other_config", ref, "disks", xml);
}

/** One VIF per spec network (absent: the pool's default network; empty: none). */
export async function addNics(client: XapiClient, ref: string, spec: VmSpec): Promise<void> {
  const wanted = spec.networks ?? [{ name: "default" }];
  if (wanted.length === 0) return;
  const networks = await client.call<Record<string, { name_label: string; bridge: string; other_config: Record<string, string> }>>("list networks", "network.get_all_records");
  const entries = Object.entries(networks);
  for (const [device, nic] of wanted.entries()) {
    const named = nic.network ?? nic.bridge;
    const found =
      named === undefined
        ? (entries.find(([, n]) => n.bridge === "xenbr0") ?? entries.find(([, n]) => n.other_config["is_host_internal_management_network"] !== "true"))
        : entries.find(([, n]) => n.name_label === named || n.bridge === named);
    if (found === undefined) throw new NotFoundError(`xenserver: no network ${named ?? "(default)"} in the pool`, { reason: "network-missing" });
    await client.call(`add NIC ${nic.name}`, "VIF.create", {
      device: String(device),
      network: found[0],
      VM: ref,
      MAC: nic.macAddress ?? "", // empty: XAPI generates one
      MTU: 1500,
      other_config: {},
      qos_algorithm_type: "",
      qos_algorithm_params: {},
    });
  }
}

export async function resize(client: XapiClient, ref: string, vm: VmRecord, spec: VmSpec): Promise<void> {
  const cpus = Math.max(1, Math.ceil(spec.cpus));
  // VCPUs_at_startup may never exceed VCPUs_max: grow the maximum first, shrink it last.
  if (cpus >= Number(vm.VCPUs_at_startup)) {
    await client.call("set VCPUs", "VM.set_VCPUs_max", ref, cpus);
    await client.call("set VCPUs", "VM.set_VCPUs_at_startup", ref, cpus);
  } else {
    await client.call("set VCPUs", "VM.set_VCPUs_at_startup", ref, cpus);
    await client.call("set VCPUs", "VM.set_VCPUs_max", ref, cpus);
  }
  const bytes = spec.memoryMiB * MiB;
  const min = Math.min(Number(vm.memory_static_min), bytes);
  await client.call("set memory", "VM.set_memory_limits", ref, min, bytes, bytes, bytes);
}

/** xenstore takes at most 4096 bytes per value. */
const xenstoreValueMax = 4096;

/**
 * cloud-init data as xenstore-data keys under vm-data/ (base64): XAPI writes them to the guest's
 * xenstore (/local/domain/<id>/vm-data/...) at every start, where a guest agent or a cloud-init
 * datasource reading xenstore finds them (ADR 0024). Keys already holding the value are left alone.
 */
export async function setCloudInit(client: XapiClient, ref: string, vm: VmRecord, spec: VmSpec, instanceId: string): Promise<void> {
  const data = spec.cloudInit;
  if (data === undefined) return;
  const b64 = (text: string): string => Buffer.from(text, "utf8").toString("base64");
  const keys: Record<string, string> = { "vm-data/user-data": b64(data.userData), "vm-data/meta-data": b64(`instance-id: ${instanceId}\n`) };
  if (data.networkConfig !== undefined) keys["vm-data/network-config"] = b64(data.networkConfig);
  for (const [key, value] of Object.entries(keys)) {
    if (value.length > xenstoreValueMax) {
      throw new TerminalError(`xenserver: ${key} is ${value.length} bytes in base64; xenstore holds at most ${xenstoreValueMax} per value`, { reason: "cloud-init-too-large" });
    }
    const current = vm.xenstore_data?.[key];
    if (current === value) continue;
    if (current !== undefined) await client.call("cloud-init data", "VM.remove_from_xenstore_data", ref, key);
    await client.call("cloud-init data", "VM.add_to_xenstore_data", ref, key, value);
  }
}
