// Hosts whose driver can never live-migrate, known from the Host alone (the session's
// capabilities say it for the others). They are never a DRS move's source or target.
import type { HostObject } from "../../src/fleet/kinds.ts";

export function staticMigrationRefusal(host: HostObject): string | undefined {
  if (host.spec.driver === "docker") return "Docker has no live migration";
  if (host.spec.driver === "esxi") return "a standalone ESXi host has no vMotion without vCenter";
  return undefined;
}
