// How a Host resource becomes a driver connection: its endpoint and TLS trust from spec, a few
// driver options the API has no field for yet (annotations, below), and the credentials from its
// Secret. The Secret's values go only to the driver: never into logs, events or status.
import type { Credentials, HostConnection, TlsSettings } from "../../drivers/contract/index.ts";
import type { HostObject } from "./kinds.ts";

/** Driver options on the Host as annotations, until the API grows fields for them. */
export const hostAnnotations = {
  /** libvirt domain type: kvm | qemu (TCG) | auto. Hosts whose /dev/kvm cannot boot a guest use qemu. */
  virtType: "libvirt.omnivisor.io/virt-type",
  /** libvirt: storage pool on the host for VM disks and images (default "omnivisor", made on first use; ADR 0015). */
  storagePool: "libvirt.omnivisor.io/storage-pool",
  /** libvirt: connections per host calls are spread over (1–16, default 4; libvirtd serves 5 calls of each at a time). */
  connections: "libvirt.omnivisor.io/connections",
  /**
   * libvirt: a name for the storage these hosts share (an NFS export mounted at the pool's path on
   * each). A migration between hosts naming the same moves memory only; otherwise the disks are
   * copied (shared-nothing), which never happens onto a disk the target already sees.
   */
  sharedStorage: "libvirt.omnivisor.io/shared-storage",
  /** libvirt network / Docker network a VM network without a mapping joins. */
  defaultNetwork: "omnivisor.io/default-network",
} as const;

export function hostConnection(host: HostObject): HostConnection {
  const spec = host.spec;
  const notes = host.metadata.annotations ?? {};
  const connection: HostConnection = { endpoint: spec.endpoint };
  if (spec.tls) {
    connection.tls = {
      ...(spec.tls.caBundle ? { caPem: spec.tls.caBundle } : {}),
      ...(spec.tls.thumbprint ? { thumbprint: spec.tls.thumbprint } : {}),
      ...(spec.tls.serverName ? { serverName: spec.tls.serverName } : {}),
      ...(spec.tls.insecureSkipVerify ? { insecureSkipVerify: true } : {}),
    };
  }
  const network = notes[hostAnnotations.defaultNetwork];
  if (spec.driver === "libvirt") {
    const virtType = notes[hostAnnotations.virtType];
    connection.libvirt = {
      ...(virtType === "kvm" || virtType === "qemu" || virtType === "auto" ? { virtType } : {}),
      ...(notes[hostAnnotations.storagePool] ? { storagePool: notes[hostAnnotations.storagePool] } : {}),
      ...connectionsOf(notes[hostAnnotations.connections]),
      ...(notes[hostAnnotations.sharedStorage] ? { sharedStorage: notes[hostAnnotations.sharedStorage] } : {}),
      ...(network ? { defaultNetwork: network } : {}),
    };
  }
  if (spec.driver === "docker" && network) connection.docker = { defaultNetwork: network };
  return connection;
}

/** A whole number of connections 1–16; anything else is left to the driver's default. */
function connectionsOf(value: string | undefined): { connections?: number } {
  const n = Number(value);
  return value !== undefined && Number.isInteger(n) && n >= 1 && n <= 16 ? { connections: n } : {};
}

/** Secret keys read as credentials: basic-auth, token, and kubernetes.io/tls style client certificates. */
export function credentialsFromSecret(data: Record<string, string> | undefined): Credentials {
  const value = (...keys: string[]): string | undefined => {
    for (const k of keys) {
      const v = data?.[k];
      if (v !== undefined) return Buffer.from(v, "base64").toString("utf8");
    }
    return undefined;
  };
  const credentials: Credentials = {};
  const pairs: [keyof Credentials, string[]][] = [
    ["username", ["username"]],
    ["password", ["password"]],
    ["token", ["token"]],
    ["certPem", ["tls.crt", "certPem"]],
    ["keyPem", ["tls.key", "keyPem"]],
  ];
  for (const [field, keys] of pairs) {
    const v = value(...keys);
    if (v !== undefined) credentials[field] = v;
  }
  return credentials;
}

/**
 * TLS trust that may also come from the Host's Secret (keys `ca.crt` and `thumbprint`), for teams
 * that keep a host's pinned certificate with its password rather than in the Host manifest.
 */
export function trustFromSecret(data: Record<string, string> | undefined): Pick<TlsSettings, "caPem" | "thumbprint"> {
  const value = (key: string): string | undefined => (data?.[key] !== undefined ? Buffer.from(data[key], "base64").toString("utf8").trim() : undefined);
  const caPem = value("ca.crt");
  const thumbprint = value("thumbprint");
  return { ...(caPem ? { caPem } : {}), ...(thumbprint ? { thumbprint } : {}) };
}

/** The connection with the Secret's trust added where the Host's spec.tls names none (spec wins). */
export function withSecretTrust(connection: HostConnection, trust: Pick<TlsSettings, "caPem" | "thumbprint">): HostConnection {
  if (!trust.caPem && !trust.thumbprint) return connection;
  const tls = connection.tls ?? {};
  if (tls.caPem || tls.thumbprint) return connection;
  const merged: TlsSettings = { ...tls, ...trust };
  delete merged.insecureSkipVerify; // trust given in the Secret is never ignored
  return { ...connection, tls: merged };
}
