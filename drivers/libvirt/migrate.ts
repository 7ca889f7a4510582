// Live migration, peer to peer: the source daemon connects to the destination itself
// (DOMAIN_MIGRATE_PERFORM3_PARAMS with VIR_MIGRATE_PEER2PEER), so this client makes one call.
import type { MigrationTarget } from "../contract/index.ts";
import type { Observed } from "./observe.ts";
import { Flags } from "./rpc/procedures.ts";
import type { LibvirtRemote } from "./rpc/remote.ts";
import { parseLibvirtUri } from "./rpc/uri.ts";

/** The URI the source daemon uses to reach the destination daemon (TCP or TLS, never a local socket). */
export function destinationUri(target: MigrationTarget): string {
  const parsed = parseLibvirtUri(target.host.endpoint);
  if (parsed.transport.kind === "unix") return target.host.endpoint;
  const { host, port } = parsed.transport;
  const path = parsed.name.replace(/^[a-z0-9]+:\/\//i, "");
  return `${parsed.driver}+${parsed.transport.kind}://${host.includes(":") ? `[${host}]` : host}:${port}${path}`;
}

export async function migrate(remote: LibvirtRemote, found: Observed, target: MigrationTarget): Promise<void> {
  let flags = Flags.MIGRATE_PEER2PEER | Flags.MIGRATE_PERSIST_DEST | Flags.MIGRATE_UNDEFINE_SOURCE;
  // Disks on a directory both hosts share are safe to migrate without cache=none.
  flags |= Flags.MIGRATE_UNSAFE;
  // A stopped domain moves only its definition (offline migration).
  if (found.observation.power === "Stopped" || found.observation.power === "Crashed") flags |= Flags.MIGRATE_OFFLINE;
  else if (target.live) flags |= Flags.MIGRATE_LIVE;
  await remote.migratePerform3Params(found.dom, destinationUri(target), [], flags);
}
