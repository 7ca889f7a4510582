// Datacenter: a site — image store, networks and the default placement for everything inside it.
import { z } from "zod";
import { listMap } from "./crd-meta.ts";
import { labelName } from "./fields.ts";
import { readyAndAge, type KindDefinition, type Resource } from "./kind.ts";
import { placementDefaults } from "./placement.ts";
import { conditions, observedGeneration, resources } from "./status.ts";

const network = z
  .object({
    name: labelName("Network name VirtualMachines refer to (spec.networks[].network)."),
    vlanId: z.int().min(0).max(4094).optional().describe("802.1Q VLAN id; absent for an untagged network."),
    bridges: z
      .object({
        libvirt: z.string().min(1).max(253).optional().describe("libvirt network or host bridge name."),
        esxi: z.string().min(1).max(253).optional().describe("ESXi standard port group name."),
        xenserver: z.string().min(1).max(253).optional().describe("XenServer network name-label."),
        hyperv: z.string().min(1).max(253).optional().describe("Hyper-V virtual switch name."),
        docker: z.string().min(1).max(253).optional().describe("Docker network name."),
      })
      .meta({ minProperties: 1 })
      .describe("What the network is called on each driver's hosts (at least one driver)."),
  })
  .describe("A network of the datacenter and how each driver attaches to it.");

const image = z
  .object({
    name: labelName("Image name VirtualMachines refer to (spec.disks[].image)."),
    description: z.string().max(1024).optional().describe("What the image holds, for people."),
    sources: z
      .object({
        libvirt: z
          .string()
          .min(1)
          .max(2048)
          .optional()
          .describe(
            "libvirt: image name X, or pool/X, of volumes in a storage pool on each host: X.qcow2 (base disk; VM disks are qcow2 overlays over it) and, for direct kernel boot, X.vmlinuz and X.initrd. Without a pool, the Host's pool (annotation libvirt.omnivisor.io/storage-pool, default omnivisor). Put them there with virsh vol-create-as + vol-upload, or the driver's image upload (docs/adr/0015-libvirt-storage-volumes.md).",
          ),
        esxi: z.string().min(1).max(2048).optional().describe("ESXi: VMDK name in the datastore's omnivisor-images folder, or a full datastore path ([ds] dir/disk.vmdk)."),
        xenserver: z.string().min(1).max(2048).optional().describe("XenServer: name-label of the template VMs are cloned from."),
        hyperv: z.string().min(1).max(2048).optional().describe("Hyper-V: parent VHDX name in the host's image folder (without .vhdx)."),
        docker: z.string().min(1).max(2048).optional().describe("Docker: container image reference (busybox:1.36, registry.example.com/app@sha256:...)."),
      })
      .meta({ minProperties: 1 })
      .describe("What the image is called on each driver's hosts (at least one driver); hosts of other drivers cannot run it."),
  })
  .describe("One image of the site and what it is on each driver.");

export const datacenterSpec = z
  .object({
    displayName: z.string().max(253).optional().describe("Human-readable name of the site."),
    imageStore: z
      .object({
        location: z
          .string()
          .min(1)
          .max(2048)
          .describe("Where disk images live: a path on the hosts (/var/lib/omnivisor/images), an NFS URL or an HTTP(S) URL."),
        allowRawPaths: z
          .boolean()
          .default(false)
          .describe(
            "Let VirtualMachines name disk images outside spec.images by a path on the host: a libvirt pool/volume, an ESXi datastore path ([ds] dir/disk.vmdk), a Hyper-V file path, or a name that is a VM disk's volume. Off by default: a tenant could otherwise read another VM's disk or a host file. Plain image names and Docker image references are always allowed.",
          ),
      })
      .describe("Image store of the site, read by drivers when a disk is created from an image."),
    networks: listMap(z.array(network).max(64).optional().describe("Networks of the site, by name."), "name"),
    images: listMap(
      z.array(image).max(256).optional().describe("Image catalog: one name for the same image on every driver, so one VirtualMachine manifest fits any host. A disk image not listed here is passed to the driver as it is when it is a plain name (or, for Docker, an image reference); a path is refused unless imageStore.allowRawPaths."),
      "name",
    ),
    placement: placementDefaults("Default placement for VMs in this datacenter; a HostPool may override it.").default({
      policy: "Performance",
      scope: "Pool",
    }),
  })
  .describe("Desired state of the Datacenter.");

export const datacenterStatus = z
  .object({
    observedGeneration,
    conditions,
    pools: z.int().min(0).optional().describe("HostPools in this datacenter."),
    hosts: z.int().min(0).optional().describe("Hosts in this datacenter."),
    readyHosts: z.int().min(0).optional().describe("Hosts whose Ready condition is True."),
    virtualMachines: z.int().min(0).optional().describe("VMs Omnivisor manages on the datacenter's hosts, as the hosts report them."),
    capacity: resources("Sum of the hosts' capacity.").optional(),
    allocated: resources("Sum of what VMs on the hosts have been given.").optional(),
  })
  .describe("Observed state of the Datacenter.");

export type DatacenterSpec = z.output<typeof datacenterSpec>;
export type DatacenterStatus = z.output<typeof datacenterStatus>;
export type Datacenter = Resource<DatacenterSpec, DatacenterStatus>;

export const datacenterKind: KindDefinition = {
  kind: "Datacenter",
  plural: "datacenters",
  shortNames: ["odc"],
  scope: "Cluster",
  description: "A site: its image store, networks and default placement. Hosts and HostPools belong to one Datacenter.",
  spec: datacenterSpec,
  status: datacenterStatus,
  printerColumns: readyAndAge(
    { name: "Pools", type: "integer", jsonPath: ".status.pools", description: "HostPools in the datacenter." },
    { name: "Hosts", type: "integer", jsonPath: ".status.hosts", description: "Hosts in the datacenter." },
    { name: "Ready Hosts", type: "integer", jsonPath: ".status.readyHosts", description: "Hosts that are Ready." },
    { name: "VMs", type: "integer", jsonPath: ".status.virtualMachines", description: "VirtualMachines placed here." },
    { name: "Policy", type: "string", jsonPath: ".spec.placement.policy", description: "Default placement policy.", priority: 1 },
  ),
};
