// Host: one hypervisor endpoint, its credentials, TLS trust, fencing and reserved capacity.
import { z } from "zod";
import { cel, immutable, listMap } from "./crd-meta.ts";
import { driver, objectName, quantity, secretKeyRef, nameList, endpointPort } from "./fields.ts";
import { readyAndAge, type KindDefinition, type Resource } from "./kind.ts";
import { conditions, observedGeneration, resources } from "./status.ts";

/** A URL with a password in it (scheme://user:password@...) would put a secret in the object for anyone who can read it. */
function noPassword<T extends z.ZodString>(schema: T, what: string): T {
  return cel(schema, {
    rule: "!self.matches('^[A-Za-z][A-Za-z0-9+.-]*://[^/?#@:]*:[^/?#@]*@')",
    message: `${what} must not carry a password (user:password@): put credentials in a Secret (credentialsSecretRef)`,
    reason: "FieldValueForbidden",
  });
}

const sha256Thumbprint = /^([0-9A-Fa-f]{2}:){31}[0-9A-Fa-f]{2}$/;

const tls = cel(
  z
    .object({
      insecureSkipVerify: z
        .boolean()
        .default(false)
        .describe("Accept any server certificate. Only for labs; never implied, and exclusive with caBundle and thumbprint."),
      caBundle: z.string().max(65536).optional().describe("PEM CA certificates that sign the endpoint's certificate."),
      thumbprint: z
        .string()
        .max(95)
        .regex(sha256Thumbprint)
        .optional()
        .describe("Pinned SHA-256 fingerprint of the endpoint's certificate (AA:BB:...), as ESXi shows it; replaces CA verification."),
      serverName: z.string().max(253).optional().describe("Name to verify in the certificate when it differs from the endpoint's host."),
    })
    .describe("How the endpoint's TLS certificate is verified. Default: the system trust store."),
  {
    rule: "!self.insecureSkipVerify || (!has(self.caBundle) && !has(self.thumbprint))",
    message: "insecureSkipVerify cannot be combined with caBundle or thumbprint",
    fieldPath: ".insecureSkipVerify",
    reason: "FieldValueForbidden",
  },
);

const fencing = cel(
  z
    .object({
      method: z
        .enum(["OutOfBand", "HypervisorAPI", "Watchdog", "None"])
        .describe(
          "How the host is powered off before its VMs restart elsewhere: OutOfBand (BMC via IPMI or Redfish), HypervisorAPI (host shutdown through the endpoint), Watchdog (the status watcher's self-fence) or None (HA cannot restart this host's VMs while fencing is required).",
        ),
      outOfBand: z
        .object({
          protocol: z.enum(["IPMI", "Redfish"]).describe("BMC protocol."),
          address: cel(endpointPort(noPassword(z.string().min(1).max(2048).describe("BMC address: host[:port] for IPMI, https URL for Redfish."), "the BMC address"), "the BMC address"), {
            rule: "!self.matches('^[^:/]+:[0-9]+$') || (int(self.substring(self.lastIndexOf(':') + 1)) >= 1 && int(self.substring(self.lastIndexOf(':') + 1)) <= 65535)",
            message: "the port of the BMC address must be between 1 and 65535",
            reason: "FieldValueInvalid",
          }),
          credentialsSecretRef: secretKeyRef.describe("Secret with username and password keys for the BMC."),
          tls: tls.optional(),
        })
        .optional()
        .describe("BMC settings; required when method is OutOfBand."),
      watchdog: z
        .object({
          selfFenceAfterSeconds: z
            .int()
            .min(2)
            .max(600)
            .default(10)
            .describe(
              "The host's status watcher destroys the host's managed VMs once it has not renewed the host's heartbeat Lease for this long; HA restarts them elsewhere only after the lease's duration + this + a margin, counted from the last renewal it saw (time-based, as self-node-remediation: it trusts the watcher to act on time).",
            ),
        })
        .optional()
        .describe("Watchdog settings (method Watchdog); defaults apply when absent."),
      timeoutSeconds: z.int().min(1).max(600).default(30).describe("How long to wait for confirmation that the host is off."),
    })
    .describe(
      "Fencing: how the HAPolicy controller makes sure a failed host's VMs are not running before restarting them elsewhere. OutOfBand and HypervisorAPI are confirmed by observation (the BMC reports the power off; the host's API lists no managed VM running); Watchdog by elapsed time; None never.",
    ),
  {
    rule: "self.method != 'OutOfBand' || has(self.outOfBand)",
    message: "method OutOfBand needs outOfBand settings",
    fieldPath: ".outOfBand",
    reason: "FieldValueRequired",
  },
);

export const hostSpec = cel(
  z
    .object({
      datacenter: objectName("Datacenter the host belongs to."),
      pool: objectName("HostPool the host belongs to (a pool may also select hosts by label).").optional(),
      driver: immutable(driver("Hypervisor driver that manages the host; cannot change after creation."), "driver"),
      endpoint: endpointPort(noPassword(
        z
          .string()
          .min(1)
          .max(2048)
          .describe(
          "How to reach the hypervisor: qemu+tcp://10.0.0.5/system or qemu:///system (libvirt), https://esx1.example.com/sdk (esxi), https://xen1.example.com (xenserver), https://hv1.example.com:5986/wsman (hyperv), unix:///var/run/docker.sock or tcp://host:2376 (docker). No password in it: credentials come from credentialsSecretRef.",
          ),
        "the endpoint",
      ), "the endpoint"),

      node: objectName(
        "Kubernetes Node whose status watcher follows this host: the status-watcher DaemonSet pod on that node (started with --node, from the Downward API's spec.nodeName) reports the host's VM changes and renews its heartbeat Lease. Absent: the controller manager follows the host itself.",
      ).optional(),
      credentialsSecretRef: secretKeyRef
        .optional()
        .describe("Secret with the endpoint's credentials (keys: username, password; or token; tls.crt and tls.key for a client certificate) and optionally its TLS trust (ca.crt, thumbprint), used where spec.tls names none. Required for esxi, xenserver and hyperv."),
      tls: tls.optional(),
      fencing: fencing.optional(),
      adoption: z
        .object({
          namespaces: nameList("Namespaces whose VirtualMachines may adopt VMs found on this host.", "A namespace.", 64, 1),
        })
        .optional()
        .describe(
          "Who may take over a VM already on this host with a VirtualMachine's spec.adopt (an unmanaged VM, or an orphan whose VirtualMachine is gone). Absent: no namespace may — adopting hands a tenant a VM that may hold someone else's data.",
        ),
      maintenance: z.boolean().default(false).describe("Take no new VMs and drain the host (see drainPolicy)."),
      drainPolicy: z
        .enum(["Migrate", "Shutdown"])
        .default("Migrate")
        .describe("How a host in maintenance is emptied: live-migrate its VMs, or shut them down."),
      reserved: resources("Capacity kept for the hypervisor itself; allocatable = capacity - reserved.").optional(),
      cpuOvercommit: z.number().min(1).max(32).default(1).describe("vCPUs allocatable per physical CPU (1 = no overcommit)."),
      memoryOvercommit: z.number().min(1).max(4).default(1).describe("Memory allocatable per byte of physical memory (1 = no overcommit)."),
    })
    .describe("Desired state of the Host."),
  {
    rule: "!(self.driver in ['esxi', 'xenserver', 'hyperv']) || has(self.credentialsSecretRef)",
    message: "drivers esxi, xenserver and hyperv need credentialsSecretRef",
    fieldPath: ".credentialsSecretRef",
    reason: "FieldValueRequired",
  },
);

const unmanagedVm = z
  .object({
    externalId: z.string().min(1).max(253).describe("The hypervisor's id of the VM (domain UUID, moref, container id...)."),
    name: z.string().max(253).optional().describe("The VM's name on the hypervisor."),
    powerState: z.enum(["Running", "Stopped", "Paused", "Unknown"]).optional().describe("Power state on the hypervisor."),
    cpus: z.int().min(0).optional().describe("vCPUs of the VM."),
    memory: quantity("Memory of the VM.").optional(),
  })
  .describe("A VM found on the host that no VirtualMachine manages (candidate for spec.adopt).");

const orphanedVm = z
  .object({
    externalId: z.string().min(1).max(253).describe("The hypervisor's id of the VM."),
    uid: z.string().max(128).optional().describe("uid of the VirtualMachine it was made for (the identity it carries)."),
    name: z.string().max(253).optional().describe("The VM's name on the hypervisor."),
    namespace: z.string().max(63).optional().describe("Namespace of the VirtualMachine it was made for."),
    virtualMachine: z.string().max(253).optional().describe("Name of the VirtualMachine it was made for (no longer exists)."),
    powerState: z.enum(["Running", "Stopped", "Paused", "Unknown"]).optional().describe("Power state on the hypervisor."),
  })
  .describe(
    "A VM that carries Omnivisor's identity but whose VirtualMachine no longer exists (e.g. `make run --fresh` started a new control plane). Never touched by the operator: adopt it (a VirtualMachine with spec.adopt naming this host and externalId) or delete it on the hypervisor.",
  );

export const hostPhases = ["Pending", "Ready", "NotReady", "Suspect", "Fencing", "Fenced", "EnteringMaintenance", "InMaintenance"] as const;

export const hostStatus = z
  .object({
    observedGeneration,
    conditions,
    phase: z.enum(hostPhases).optional().describe("Summary of the host's state, for people; conditions carry the detail."),
    hypervisor: z
      .object({
        type: z.string().max(253).optional().describe("Hypervisor product, e.g. QEMU/KVM, VMware ESXi, Docker Engine."),
        version: z.string().max(253).optional().describe("Hypervisor version."),
      })
      .optional()
      .describe("What answers at the endpoint."),
    capacity: resources("Physical capacity of the host.").optional(),
    allocatable: resources("What placement may hand out: (capacity - reserved) x overcommit.").optional(),
    allocated: resources("Sum of what managed VMs on the host have been given.").optional(),
    usage: z
      .object({
        cpuPercent: z.number().min(0).max(100).optional().describe("CPU load in percent of capacity."),
        memory: quantity("Memory in use.").optional(),
        storage: quantity("Storage in use.").optional(),
        sampledAt: z.iso.datetime().optional().describe("When the figures were sampled."),
      })
      .optional()
      .describe("Live usage reported by the hypervisor."),
    virtualMachines: z
      .object({
        total: z.int().min(0).optional().describe("All VMs on the host, managed or not."),
        running: z.int().min(0).optional().describe("VMs powered on."),
        managed: z.int().min(0).optional().describe("VMs that a VirtualMachine manages."),
        orphaned: z.int().min(0).optional().describe("VMs made by Omnivisor whose VirtualMachine no longer exists (status.orphanedVms)."),
      })
      .optional()
      .describe("VM counts on the host."),
    unmanagedVms: listMap(z.array(unmanagedVm).max(1000).optional().describe("VMs on the host that no VirtualMachine manages."), "externalId"),
    orphanedVms: listMap(z.array(orphanedVm).max(1000).optional().describe("VMs made by Omnivisor whose VirtualMachine no longer exists; not counted as managed, never touched."), "externalId"),
    fencedAt: z.iso.datetime().optional().describe("When the host was last fenced (confirmed off)."),
  })
  .describe("Observed state of the Host.");

export type HostSpec = z.output<typeof hostSpec>;
export type HostStatus = z.output<typeof hostStatus>;
export type Host = Resource<HostSpec, HostStatus>;

export const hostKind: KindDefinition = {
  kind: "Host",
  plural: "hosts",
  shortNames: ["ohost"],
  scope: "Cluster",
  description: "One hypervisor endpoint (libvirt, ESXi, XenServer, Hyper-V or Docker) with its credentials, fencing method and reserved capacity.",
  spec: hostSpec,
  status: hostStatus,
  printerColumns: readyAndAge(
    { name: "Driver", type: "string", jsonPath: ".spec.driver", description: "Hypervisor driver." },
    { name: "Datacenter", type: "string", jsonPath: ".spec.datacenter", description: "Datacenter of the host." },
    { name: "Pool", type: "string", jsonPath: ".spec.pool", description: "HostPool of the host." },
    { name: "Phase", type: "string", jsonPath: ".status.phase", description: "Summary of the host's state." },
    { name: "CPUs", type: "integer", jsonPath: ".status.capacity.cpus", description: "Physical CPUs." },
    { name: "Memory", type: "string", jsonPath: ".status.capacity.memory", description: "Physical memory." },
    { name: "VMs", type: "integer", jsonPath: ".status.virtualMachines.total", description: "VMs on the host." },
    { name: "Orphaned", type: "integer", jsonPath: ".status.virtualMachines.orphaned", description: "VMs made by Omnivisor whose VirtualMachine is gone.", priority: 1 },
    { name: "Node", type: "string", jsonPath: ".spec.node", description: "Node whose status watcher follows the host.", priority: 1 },
    { name: "Maintenance", type: "boolean", jsonPath: ".spec.maintenance", description: "Host is in maintenance.", priority: 1 },
    { name: "Version", type: "string", jsonPath: ".status.hypervisor.version", description: "Hypervisor version.", priority: 1 },
  ),
};
